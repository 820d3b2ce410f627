"""The rules raised by the build-system analysis (MLV821-MLV849), declared once."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_GUARDDOG = "https://github.com/DataDog/guarddog"
_PIP_SECURE = "https://pip.pypa.io/en/stable/topics/secure-installs/"

DOWNLOAD_AND_RUN = Rule(
    "MLV821",
    "Build downloads and runs code",
    Severity.CRITICAL,
    "Code that runs while the package is built or installed fetches something from the network and "
    "executes it (curl | sh, a download followed by exec or a process, a downloaded CMake script that is "
    "included). Whatever the server returns runs with your privileges before you ever import the package. "
    "Do not build it; install a vetted wheel instead and report the package.",
    (_GUARDDOG, "https://pytorch.org/blog/compromised-nightly-dependency/"),
)
BUILD_NETWORK = Rule(
    "MLV822",
    "Build script uses the network",
    Severity.HIGH,
    "setup.py, a build hook or an in-tree backend opens network connections at build time. A build "
    "that phones home can exfiltrate the build machine's secrets or fetch a second stage that was never "
    "reviewed. Builds should only use the build requirements the installer resolved; review the endpoint.",
    (_GUARDDOG,),
)
BUILD_PROCESS = Rule(
    "MLV823",
    "Build script runs processes",
    Severity.MEDIUM,
    "Code executed at build time starts processes. Compilers, pkg-config and git are usual; shell "
    "commands, inline interpreter code, package installers and anything inside an install/develop/egg_info "
    "command override are rated high. "
    "Read the command line in the evidence and make sure it only builds the package.",
    (_GUARDDOG,),
)
BUILD_DYNAMIC_CODE = Rule(
    "MLV824",
    "Build script executes hidden or dynamic code",
    Severity.HIGH,
    "Code executed at build time runs code that is not visible in the file: exec/eval/compile of computed "
    "or decoded strings, marshal, imports named at run time. Reading a local version file with exec is not "
    "reported. A decoded (base64, zlib, marshal) payload is critical: that is how install-time malware "
    "hides.",
    (_GUARDDOG,),
)
COMMAND_OVERRIDE = Rule(
    "MLV825",
    "setup.py overrides an install command",
    Severity.MEDIUM,
    "setup() is given a cmdclass whose install, develop or egg_info command does more than call the "
    "standard implementation. Such overrides run every time the package is installed, which is where "
    "malicious packages put their payload (GuardDog's cmd-overwrite). Rated high when the override runs "
    "processes, dynamic code or the network.",
    (_GUARDDOG,),
)
BUILD_SENSITIVE = Rule(
    "MLV826",
    "Build script touches secrets or the user's files",
    Severity.HIGH,
    "Code executed at build time reads credentials from the environment, reads the machine's identity, "
    "writes to shell profiles, SSH keys, site-packages or .pth files, or unpickles data. A build has no "
    "reason to do any of this; it is how install-time stealers and persistence work.",
    (_GUARDDOG,),
)
BUILD_DECODES = Rule(
    "MLV827",
    "Build script decodes hidden data",
    Severity.MEDIUM,
    "Code executed at build time decodes base64, hex, zlib or similar data embedded in the source. Plain "
    "builds have nothing to hide; decoded data that is later executed is reported as critical by MLV824.",
    (_GUARDDOG,),
)
BUILD_SCRIPT_UNPARSEABLE = Rule(
    "MLV828",
    "Build description does not parse",
    Severity.LOW,
    "pyproject.toml is not valid TOML (or its [build-system] table has the wrong shape), so mlvet could "
    "not tell which backend would run. pip refuses such a project; if it builds for you, something else "
    "is reading the file.",
)
UNKNOWN_BACKEND = Rule(
    "MLV831",
    "Unknown build backend",
    Severity.MEDIUM,
    "[build-system] build-backend names a module that is not one of the well-known PEP 517 backends "
    "(setuptools, hatchling, flit-core, poetry-core, pdm-backend, scikit-build-core, meson-python, "
    "maturin, sip ...). The backend runs arbitrary code at build time; a look-alike backend is an easy "
    "place for a payload. Check which requirement provides it.",
    ("https://peps.python.org/pep-0517/",),
)
IN_TREE_BACKEND = Rule(
    "MLV832",
    "Build backend shipped inside the package",
    Severity.MEDIUM,
    "[build-system] backend-path makes the installer import the build backend from the package's own "
    "files instead of a published, pinned backend. That code is not covered by any requirement hash. "
    "Legitimate for backends that build themselves; otherwise read the backend module.",
    ("https://peps.python.org/pep-0517/#in-tree-build-backends",),
)
URL_BUILD_REQUIREMENT = Rule(
    "MLV833",
    "Build requirement fetched from a URL or VCS",
    Severity.HIGH,
    "A [build-system] requires entry is a direct reference (name @ https://..., git+...). The installer "
    "fetches and runs it at build time from that location, bypassing the index, pins and hash checking. "
    "Use a released, pinned build requirement instead.",
    ("https://peps.python.org/pep-0508/", _PIP_SECURE),
)
UNPINNED_BUILD_REQUIREMENT = Rule(
    "MLV834",
    "Build requirements are not pinned",
    Severity.INFO,
    "[build-system] requires entries without an exact version let the installer pick whatever version of "
    "the backend is newest, without hash checking, in pip's isolated build environment. This is usual "
    "practice; pin build dependencies with a constraints file (PIP_CONSTRAINT) or build from a lock.",
    (_PIP_SECURE,),
)
SETUPTOOLS_CMDCLASS = Rule(
    "MLV835",
    "pyproject.toml overrides setuptools commands",
    Severity.MEDIUM,
    "[tool.setuptools.cmdclass] replaces setuptools commands with classes from the package. They run "
    "at build or install time; read the named modules (mlvet analyses them as ordinary Python source).",
    ("https://setuptools.pypa.io/en/latest/userguide/pyproject_config.html",),
)
CMAKE_UNVERIFIED_DOWNLOAD = Rule(
    "MLV841",
    "CMake downloads a file without a hash",
    Severity.MEDIUM,
    "file(DOWNLOAD ...) runs at configure time and has no EXPECTED_HASH or EXPECTED_MD5, so whatever the "
    "server (or anyone on the path) returns is used in the build. Rated high when the file is a script "
    "(.cmake, .sh, .py, an executable) or comes over plain HTTP; critical (MLV821) when the build then "
    "includes or runs it. Add EXPECTED_HASH SHA256=... for the reviewed file.",
    ("https://cmake.org/cmake/help/latest/command/file.html#download",),
)
CMAKE_UNVERIFIED_DEPENDENCY = Rule(
    "MLV842",
    "CMake fetches a dependency without a hash",
    Severity.HIGH,
    "FetchContent_Declare or ExternalProject_Add downloads an archive from a URL and has no URL_HASH "
    "(or URL_MD5). The archive's code is compiled into the package, unverified. Add URL_HASH SHA256=... .",
    ("https://cmake.org/cmake/help/latest/module/FetchContent.html",),
)
CMAKE_MUTABLE_GIT_REF = Rule(
    "MLV843",
    "CMake fetches a git branch or tag, not a commit",
    Severity.MEDIUM,
    "FetchContent_Declare or ExternalProject_Add clones a repository at a branch (or with no GIT_TAG), "
    "so the code that is built changes whenever the branch moves. Version tags, abbreviated hashes and "
    "refs set outside the file are rated low: tags can be moved too. Pin GIT_TAG to a full commit hash.",
    ("https://cmake.org/cmake/help/latest/module/ExternalProject.html",),
)
BUILD_RUNS_SHELL = Rule(
    "MLV844",
    "Build description runs a downloader, shell or inline interpreter",
    Severity.HIGH,
    "execute_process, add_custom_command, add_custom_target (CMake) or run_command (meson) runs curl, "
    "wget, a shell, PowerShell or python -c with dangerous code. This runs at configure or build time "
    "with the user's privileges; builds rarely need it. Read the command line in the evidence.",
    ("https://cmake.org/cmake/help/latest/command/execute_process.html",),
)
STARTUP_HOOK = Rule(
    "MLV847",
    "Wheel installs an interpreter start-up hook",
    Severity.HIGH,
    "A .pth file installed into site-packages has lines starting with 'import', which Python executes at "
    "every interpreter start, in every program, once the wheel is installed (the litellm 1.82.8 "
    "compromise). Critical when the lines run processes, the network or hidden code; low when they only "
    "import a module of the same package.",
    ("https://docs.python.org/3/library/site.html", "https://github.com/BerriAI/litellm/issues/24518"),
)
WHEEL_SCRIPT = Rule(
    "MLV848",
    "Wheel installs a non-Python script",
    Severity.MEDIUM,
    "A file under *.data/scripts/ in the wheel is installed onto PATH and is not a Python script that the "
    "installer rewrites (a shell script or a binary). It can shadow a common command name. Read it.",
    ("https://packaging.python.org/en/latest/specifications/binary-distribution-format/",),
)

SHADOWING_COMMAND = Rule(
    "MLV849",
    "Wheel installs a command that shadows a common one",
    Severity.MEDIUM,
    "The wheel's console_scripts entry points install an executable named like a common system or Python "
    "tool (python, pip, git, ssh, sudo, ls ...) although the distribution is not that tool. The first "
    "such name on PATH wins, so the wheel's code runs whenever the user types the command.",
    ("https://packaging.python.org/en/latest/specifications/entry-points/",),
)

RULES: tuple[Rule, ...] = (
    DOWNLOAD_AND_RUN,
    BUILD_NETWORK,
    BUILD_PROCESS,
    BUILD_DYNAMIC_CODE,
    COMMAND_OVERRIDE,
    BUILD_SENSITIVE,
    BUILD_DECODES,
    BUILD_SCRIPT_UNPARSEABLE,
    UNKNOWN_BACKEND,
    IN_TREE_BACKEND,
    URL_BUILD_REQUIREMENT,
    UNPINNED_BUILD_REQUIREMENT,
    SETUPTOOLS_CMDCLASS,
    CMAKE_UNVERIFIED_DOWNLOAD,
    CMAKE_UNVERIFIED_DEPENDENCY,
    CMAKE_MUTABLE_GIT_REF,
    BUILD_RUNS_SHELL,
    STARTUP_HOOK,
    WHEEL_SCRIPT,
    SHADOWING_COMMAND,
)
