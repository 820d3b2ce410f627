"""Rules of dynamic analysis (MLV3xxx): what a file did, or tried to do, while loaded in the sandbox."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_PEP578 = "https://peps.python.org/pep-0578/"
_CWE502 = "https://cwe.mitre.org/data/definitions/502.html"

PROCESS = Rule(
    "MLV3001",
    "Process execution attempted",
    Severity.CRITICAL,
    "Loading the file asked to start a process (os.system, subprocess, exec, spawn, fork). A model file "
    "has no reason to run programs; this is remote code execution on whoever loads it. The sandbox "
    "refused the process; do not load the file outside it, and report it to where it came from.",
    (_CWE502, "https://docs.python.org/3/library/audit_events.html"),
)
NETWORK = Rule(
    "MLV3002",
    "Network access attempted",
    Severity.CRITICAL,
    "Loading the file created a socket, resolved a host name, or opened a URL. A model load is local; "
    "network activity means download of a second stage or exfiltration. The sandbox has no network, so "
    "nothing left the machine; treat the file as hostile.",
    (_CWE502, "https://attack.mitre.org/techniques/T1041/"),
)
FILE_WRITE = Rule(
    "MLV3003",
    "File system modification attempted",
    Severity.HIGH,
    "Loading the file opened a file for writing, or renamed, removed or created files or directories. "
    "Loaders only read; writes plant persistence (shell profiles, cron, site-packages) or drop payloads. "
    "The sandbox's file system is read-only outside a scratch directory that is thrown away.",
    (_CWE502, "https://attack.mitre.org/techniques/T1546/004/"),
)
CODE = Rule(
    "MLV3004",
    "Code compiled or executed from data",
    Severity.HIGH,
    "Loading the file compiled or executed Python code that did not come from an installed module "
    "(exec, eval, compile, marshal, code objects). A model that carries code runs it with the loader's "
    "privileges; inspect the evidence for the code and never load the file outside the sandbox.",
    (_CWE502, "https://nvd.nist.gov/vuln/detail/CVE-2024-3660"),
)
DANGEROUS_IMPORT = Rule(
    "MLV3005",
    "Dangerous module imported by the payload",
    Severity.MEDIUM,
    "Loading the file imported a module used for processes, networking or native code (subprocess, "
    "socket, ctypes, pty, urllib.request...) directly, not as part of a library's own imports. Alone "
    "it proves intent rather than action; look for the action findings that follow it.",
    (_CWE502,),
)
NATIVE = Rule(
    "MLV3006",
    "Native code access through ctypes",
    Severity.HIGH,
    "Loading the file used ctypes to open a shared library, look up a symbol or touch raw memory. "
    "ctypes reaches the C library and the interpreter's internals directly, bypassing every Python-level "
    "control (a libc system() call raises no process event); treat the file as hostile.",
    (_PEP578, "https://github.com/python/cpython/issues/115322"),
)
EVASION = Rule(
    "MLV3007",
    "Sandbox evasion or anti-analysis",
    Severity.CRITICAL,
    "The payload attacked the recorder or the runner: it added an audit hook, rewrote a function's "
    "code, walked the garbage collector, touched /proc/self/mem, closed or forged the event log, or "
    "ended the runner before it could report. Benign models never do this; what the log shows after "
    "such an event may be incomplete, so treat the file as hostile whatever else is reported.",
    (_PEP578, "https://docs.python.org/3/library/sys.html#sys.addaudithook"),
)
ENVIRONMENT = Rule(
    "MLV3008",
    "Environment variables changed",
    Severity.MEDIUM,
    "Loading the file changed the process environment (os.putenv, os.unsetenv). Payloads use this to "
    "redirect later library loads (LD_PRELOAD, PYTHONPATH) or proxies; a loader has no reason to.",
    (_CWE502,),
)
DANGEROUS_GLOBAL = Rule(
    "MLV3009",
    "Loader resolved a dangerous global",
    Severity.HIGH,
    "The unpickler resolved a global that mlvet's pickle policy denies (pickle.find_class names the "
    "module and attribute it returned). This is the dynamic counterpart of the static MLV101/MLV102 "
    "findings and confirms that the real loader reaches the callable.",
    (_CWE502, "https://docs.python.org/3/library/pickle.html#restricting-globals"),
)
RESOURCE_LIMIT = Rule(
    "MLV3010",
    "Resource limit reached",
    Severity.MEDIUM,
    "The load hit a sandbox limit: memory (address space), CPU time, file size or open files. "
    "Decompression and allocation bombs look like this; so does a model larger than --memory allows. "
    "Raise the limit only if the file is expected to be that large.",
    ("https://cwe.mitre.org/data/definitions/400.html",),
)
TIMEOUT = Rule(
    "MLV3011",
    "Load did not finish in time",
    Severity.MEDIUM,
    "The runner was still going when --timeout expired and was killed. A payload that sleeps, waits "
    "for a connection or spins looks like this; a very large model can too. Retry with a longer "
    "timeout before concluding.",
    ("https://cwe.mitre.org/data/definitions/834.html",),
)
CRASH = Rule(
    "MLV3012",
    "Loader crashed",
    Severity.HIGH,
    "The runner died of a crash signal (segmentation fault, bus error, abort) while loading. A crafted "
    "file that corrupts a native parser's memory ends like this; so do parser bugs. Do not load the "
    "file with the same library version outside the sandbox.",
    ("https://cwe.mitre.org/data/definitions/787.html",),
)
BLOCKED = Rule(
    "MLV3013",
    "Operation refused by the sandbox",
    Severity.MEDIUM,
    "The load ended with a permission error raised by one of the sandbox's layers (seccomp, Landlock, "
    "the read-only mounts, the empty network namespace). Something in the file asked for more than "
    "reading; the finding's evidence names the refused operation.",
    ("https://docs.kernel.org/userspace-api/landlock.html",),
)
STATIC_GAP = Rule(
    "MLV3014",
    "Behaviour missed by static analysis",
    Severity.HIGH,
    "The file did something dangerous when loaded, but 'mlvet scan' reported nothing at high or above "
    "for it. Either the technique evades the static rules or it lives where they do not look. Add the "
    "file to the scan corpus as a test case (tests/corpus) and extend the static rule that should see it.",
    ("https://github.com/mmaitre314/picklescan",),
)

RULES: tuple[Rule, ...] = (
    PROCESS,
    NETWORK,
    FILE_WRITE,
    CODE,
    DANGEROUS_IMPORT,
    NATIVE,
    EVASION,
    ENVIRONMENT,
    DANGEROUS_GLOBAL,
    RESOURCE_LIMIT,
    TIMEOUT,
    CRASH,
    BLOCKED,
    STATIC_GAP,
)
