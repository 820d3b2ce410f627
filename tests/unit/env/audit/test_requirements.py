from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.env.audit.requirements import read_requirement_file
from mlvet.errors import InputError

SHA = "sha256:" + "ab" * 32


def test_a_pip_requirements_file_with_options_includes_hashes_and_urls(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("numpy==2.4.6  # pinned\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# ML stack\n"
        "-r base.txt\n"
        "--index-url https://mirror.example.com/simple\n"
        "--extra-index-url=https://download.pytorch.org/whl/cu121\n"
        "-f /srv/wheels\n"
        "torch==2.5.1+cu121 \\\n"
        f"    --hash={SHA} \\\n"
        f"    --hash={SHA}\n"
        "transformers>=4.48,<5\n"
        "keras===3.11.3\n"
        "onnx==1.*\n"
        "Scikit_Learn[alldeps] == 1.9.1 ; python_version >= '3.10'\n"
        "mypkg @ git+https://github.com/acme/mypkg@0123456789abcdef0123456789abcdef01234567\n"
        "otherpkg @ git+https://github.com/acme/otherpkg@main\n"
        "-e ./local-package\n"
    )
    result = read_requirement_file(requirements)
    pins = {p.name: p for p in result.pins}
    assert result.files == [str(requirements), str(tmp_path / "base.txt")]
    assert [(e.role, e.url, e.line) for e in result.pip_options] == [
        ("index", "https://mirror.example.com/simple", 3),
        ("extra", "https://download.pytorch.org/whl/cu121", 4),
        ("find-links", "/srv/wheels", 5),
    ]
    assert (
        pins["torch"].version == "2.5.1+cu121"
        and pins["torch"].hashes == (SHA, SHA)
        and pins["torch"].line == 6
    )
    assert result.require_hashes
    assert pins["transformers"].version is None and not pins["transformers"].pinned
    assert pins["keras"].version == "3.11.3"
    assert pins["onnx"].version is None  # a wildcard is a range
    assert pins["scikit-learn"].version == "1.9.1"
    assert pins["numpy"].origin == str(tmp_path / "base.txt")
    assert pins["mypkg"].immutable and not pins["otherpkg"].immutable
    assert pins["./local-package"].immutable
    assert result.errors == []


def test_lines_that_are_not_requirements_are_reported_with_their_line(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch==2.6.0\nthis is not a requirement!\n-r missing.txt\n")
    result = read_requirement_file(requirements)
    assert [(line, message.split(":")[0]) for _, line, message in result.errors] == [
        (2, "not a requirement"),
        (3, "included file missing.txt does not exist"),
    ]


def test_an_include_cycle_terminates(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\ntorch==2.6.0\n")
    (tmp_path / "b.txt").write_text("-r a.txt\nnumpy==2.4.6\n")
    result = read_requirement_file(tmp_path / "a.txt")
    assert sorted(p.name for p in result.pins) == ["numpy", "torch"]


def test_pyproject_dependencies_and_uv_settings(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\n\n'
        '[project]\nname = "app"\ndependencies = ["torch>=2.6", "transformers==5.24.0"]\n\n'
        '[project.optional-dependencies]\nserve = ["gradio>=5.5"]\n\n'
        '[dependency-groups]\ndev = ["pytest", {include-group = "lint"}]\nlint = ["ruff"]\n\n'
        '[tool.uv]\nindex-strategy = "unsafe-best-match"\n\n'
        '[[tool.uv.index]]\nname = "pytorch"\nurl = "https://download.pytorch.org/whl/cpu"\nexplicit = true\n\n'  # noqa: E501
        '[tool.uv.sources]\ntorch = { index = "pytorch" }\n'
    )
    result = read_requirement_file(pyproject)
    assert sorted(p.name for p in result.pins) == [
        "gradio",
        "pytest",
        "ruff",
        "setuptools",
        "torch",
        "transformers",
    ]
    assert not any(p.pinning_expected for p in result.pins)
    assert result.uv is not None and result.uv.strategy == "unsafe-best-match"
    assert result.uv.sources == {"torch": "pytorch"} and result.uv.entries[0].explicit


def test_pylock_and_uv_lock(tmp_path: Path) -> None:
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(
        'lock-version = "1.0"\ncreated-by = "uv"\n\n'
        '[[packages]]\nname = "torch"\nversion = "2.6.0"\nindex = "https://download.pytorch.org/whl/cpu"\n'
        '[[packages.wheels]]\nname = "torch-2.6.0+cpu-cp311-cp311-linux_x86_64.whl"\n'
        f'hashes = {{sha256 = "{"cd" * 32}"}}\n\n'
        '[[packages]]\nname = "mylib"\nversion = "0.1.0"\n[packages.directory]\npath = "./mylib"\n'
    )
    result = read_requirement_file(pylock)
    torch, mylib = result.pins
    assert torch.version == "2.6.0" and torch.hashes == ("sha256:" + "cd" * 32,)
    assert torch.index == "https://download.pytorch.org/whl/cpu" and mylib.immutable
    uv_lock = tmp_path / "uv.lock"
    uv_lock.write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n'
        '[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
        '[[package]]\nname = "numpy"\nversion = "2.4.6"\nsource = { registry = "https://pypi.org/simple" }\n'
        f'sdist = {{ url = "https://files.example/numpy-2.4.6.tar.gz", hash = "sha256:{"ef" * 32}", size = 1 }}\n\n'  # noqa: E501
        '[[package]]\nname = "gitdep"\nversion = "1.0"\n'
        'source = { git = "https://github.com/acme/gitdep?rev=main#0123456789abcdef0123456789abcdef01234567" }\n'  # noqa: E501
    )
    locked = read_requirement_file(uv_lock)
    assert [(p.name, p.version, bool(p.hashes), p.immutable) for p in locked.pins] == [
        ("numpy", "2.4.6", True, False),
        ("gitdep", "1.0", False, True),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("pyproject.toml", "[project\n", "not valid TOML"),
        ("pylock.toml", 'lock-version = "2.0"\n', "unsupported pylock lock-version"),
        ("pyproject.toml", "project = true\n", "unexpected structure"),
        ("requirements.txt", b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_requirement_file(path)
    with pytest.raises(InputError, match="does not exist"):
        read_requirement_file(tmp_path / "nope.txt")


def test_a_project_uv_toml_carries_index_settings(tmp_path: Path) -> None:
    uv_toml = tmp_path / "uv.toml"
    uv_toml.write_text(
        'index-strategy = "unsafe-first-match"\nextra-index-url = ["https://pkgs.acme.example/simple"]\n'
    )
    result = read_requirement_file(uv_toml)
    assert result.uv is not None and result.uv.strategy == "unsafe-first-match"
    assert [(e.url, e.role) for e in result.uv.entries] == [("https://pkgs.acme.example/simple", "extra")]
