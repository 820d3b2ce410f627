"""Rules of installed-environment verification (MLV20xx): ``mlvet env verify``."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_RECORD_SPEC = "https://packaging.python.org/en/latest/specifications/recording-installed-packages/"
_SITE = "https://docs.python.org/3/library/site.html"

MODIFIED = Rule(
    "MLV2001",
    "Installed file differs from RECORD",
    Severity.HIGH,
    "A file's sha256 or size no longer matches the hash its distribution recorded at install time. "
    "Someone edited framework code after installation: a local patch, or a backdoor such as a "
    "rewritten quantization or loading routine. Reinstall the distribution from a vetted wheel "
    "(pip install --force-reinstall --no-deps) and find out who wrote the file.",
    (_RECORD_SPEC,),
)
MISSING = Rule(
    "MLV2002",
    "Recorded file is missing",
    Severity.MEDIUM,
    "A file listed in a distribution's RECORD is gone. A deleted file is rarely an attack by itself, "
    "but it means the installation is not the one that was vetted, and a missing module may be "
    "shadowed by another on sys.path. Reinstall the distribution.",
    (_RECORD_SPEC,),
)
UNOWNED_CODE = Rule(
    "MLV2003",
    "Python code no distribution owns",
    Severity.HIGH,
    "An importable Python file (.py, or a .pyc outside __pycache__) sits in site-packages but belongs "
    "to no distribution's RECORD. Injected modules and hidden payloads (such as a module dropped next "
    "to a framework and imported from a patched file) look like this. Find where it came from; "
    "delete it if nothing installed it on purpose.",
    (_RECORD_SPEC,),
)
STARTUP_PTH = Rule(
    "MLV2004",
    "Start-up .pth file executes code",
    Severity.CRITICAL,
    "A .pth file in site-packages that no distribution owns has lines starting with 'import', which "
    "the site module executes at every interpreter start, before any of your code runs. The litellm "
    "1.82.8 compromise used exactly this to steal credentials on any Python start. Remove the file "
    "and treat the environment as compromised.",
    (_SITE, "https://github.com/BerriAI/litellm/issues/24518"),
)
CUSTOMIZE = Rule(
    "MLV2005",
    "sitecustomize or usercustomize present",
    Severity.CRITICAL,
    "A sitecustomize or usercustomize module that no distribution owns sits in site-packages; the "
    "site module imports it at every interpreter start. It is a classic persistence point for "
    "malware. Read it, remove it unless you put it there, and treat the environment as compromised.",
    (_SITE,),
)
UNOWNED_NATIVE = Rule(
    "MLV2006",
    "Native library no distribution owns",
    Severity.CRITICAL,
    "A shared library (.so, .pyd, .dylib, .dll) in site-packages belongs to no distribution. Native "
    "code runs with the interpreter's full rights as soon as it is loaded and cannot be reviewed like "
    "Python; a dropped extension module can shadow a real one. Remove it and reinstall the "
    "distribution whose directory it sits in.",
    (_RECORD_SPEC,),
)
HIDDEN_DIRECTORY = Rule(
    "MLV2007",
    "Hidden directory no distribution owns",
    Severity.CRITICAL,
    "A directory whose name starts with a dot holds files no distribution installed. Payloads hide in "
    "dot-directories inside package trees to escape casual listing. Inspect the files and remove them.",
    (_RECORD_SPEC,),
)
SCRIPT_REWRITTEN = Rule(
    "MLV2008",
    "Console script rewritten",
    Severity.CRITICAL,
    "An entry-point script in the environment's bin directory no longer matches the hash its "
    "distribution recorded, or contains more than the installer's call of its entry point. "
    "Commands such as 'torchrun', 'pip' or 'huggingface-cli' run whatever the script says; a "
    "rewritten one runs an attacker's code under the user's name. Reinstall the "
    "distribution and treat the environment as compromised.",
    (_RECORD_SPEC,),
)
NO_RECORD = Rule(
    "MLV2009",
    "Distribution cannot be verified (no RECORD)",
    Severity.MEDIUM,
    "The distribution has no RECORD file (allowed by PEP 627, common for distro-managed and legacy "
    "egg installs), so none of its files can be checked. It is reported as unverifiable, never as "
    "clean. Reinstall it from a wheel with pip or uv to make it verifiable.",
    ("https://peps.python.org/pep-0627/",),
)
UNHASHED = Rule(
    "MLV2010",
    "RECORD lists files without a hash",
    Severity.MEDIUM,
    "Some RECORD rows carry no hash (apart from bytecode and RECORD itself, which never do), so those "
    "files cannot be checked. Installers that skip hashes, or a RECORD edited to hide a change, look "
    "like this. Reinstall the distribution with a standard installer.",
    ("https://peps.python.org/pep-0627/",),
)
RECORD_NOT_VETTED = Rule(
    "MLV2011",
    "Installed RECORD differs from the vetted wheel",
    Severity.CRITICAL,
    "The installed RECORD names a file or hash that the RECORD inside the vetted wheel (pinned by "
    "hash in the lock) does not. An attacker who can write site-packages can rewrite RECORD to match "
    "tampered files; only the wheel's own RECORD proves what was vetted. Reinstall from the locked "
    "wheel and investigate how the file changed.",
    ("https://peps.python.org/pep-0751/", _RECORD_SPEC),
)
NOT_LOCKED = Rule(
    "MLV2012",
    "Distribution not in the lock",
    Severity.HIGH,
    "An installed distribution is absent from the lock, or installed at a version the lock does not "
    "pin. Dependency confusion and compromised releases arrive this way: a package or version nobody "
    "vetted. Install exactly what the lock lists, or re-lock after review.",
    ("https://peps.python.org/pep-0751/",),
)
LOCK_WITHOUT_RECORD = Rule(
    "MLV2013",
    "Lock pins no RECORD for a distribution",
    Severity.INFO,
    "The lock has no hash of the RECORD inside the wheel for these distributions (uv.lock and "
    "hash-pinned requirements never do), or the vetted RECORD was not at hand, so the installed "
    "RECORD could only be trusted as found. Create the lock with 'mlvet env lock' to pin RECORDs.",
    ("https://peps.python.org/pep-0751/",),
)
UNOWNED_PATH_PTH = Rule(
    "MLV2014",
    "Path .pth file no distribution owns",
    Severity.MEDIUM,
    "A .pth file that no distribution owns adds directories to sys.path at start-up; modules in those "
    "directories can shadow installed frameworks. Check each directory it names and remove the file "
    "unless you put it there.",
    (_SITE,),
)
UNOWNED_OTHER = Rule(
    "MLV2015",
    "Data file no distribution owns",
    Severity.LOW,
    "A non-code file sits in site-packages without an owning distribution: often leftovers of an "
    "interrupted uninstall or files a program wrote at run time, sometimes staged payloads read by "
    "tampered code. Review and remove it if nothing needs it.",
    (_RECORD_SPEC,),
)

RULES: tuple[Rule, ...] = (
    MODIFIED,
    MISSING,
    UNOWNED_CODE,
    STARTUP_PTH,
    CUSTOMIZE,
    UNOWNED_NATIVE,
    HIDDEN_DIRECTORY,
    SCRIPT_REWRITTEN,
    NO_RECORD,
    UNHASHED,
    RECORD_NOT_VETTED,
    NOT_LOCKED,
    LOCK_WITHOUT_RECORD,
    UNOWNED_PATH_PTH,
    UNOWNED_OTHER,
)
