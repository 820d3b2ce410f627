"""Python source shipped with models (``trust_remote_code`` modules, loaders), analysed without running it.

The source is parsed with ``ast`` and analysed by ``python_analysis``; nothing is imported or executed.
Each dangerous behaviour maps to one rule below.
"""

from __future__ import annotations

import codecs
import re

from mlvet.artifacts import Buffer
from mlvet.findings import Location, ProblemKind, Rule, Severity
from mlvet.scan.base import CodeOrigin, ScanContext
from mlvet.scan.python.analysis import Observation, SourceAnalysis
from mlvet.scan.python.catalog import Behaviour
from mlvet.scan.python.layout import ArchiveLayout, DirectoryLayout
from mlvet.scan.python.library import grade_library
from mlvet.scan.python.names import parse_module

PROCESS_EXECUTION = Rule(
    "MLV811",
    "Python source runs processes",
    Severity.CRITICAL,
    "The code starts processes or shell commands (os.system, subprocess, pty, exec*/spawn*, pip install). "
    "Model code has no reason to do so: importing it with trust_remote_code runs the command on your "
    "machine. Do not load it; report the repository.",
)
DYNAMIC_EXECUTION = Rule(
    "MLV812",
    "Python source executes dynamic code",
    Severity.HIGH,
    "The code runs code that is not visible in the file: exec/eval/compile of computed or decoded strings, "
    "imports of modules named at run time, attributes of os or builtins fetched by computed names, code "
    "loaded from paths or native libraries. It hides what will really run; decoded payloads are critical.",
)
NETWORK_ACCESS = Rule(
    "MLV813",
    "Python source uses the network",
    Severity.HIGH,
    "The code opens sockets or HTTP connections (socket, urllib, requests, httpx, aiohttp, ftplib, "
    "smtplib, paramiko). Model code that phones home can exfiltrate data or fetch a second stage. Review "
    "every endpoint; downloads from the Hugging Face Hub are reported at medium.",
)
FINGERPRINTING = Rule(
    "MLV814",
    "Python source fingerprints the environment",
    Severity.HIGH,
    "The code reads the machine's identity (MAC address, host or user name), secrets from environment "
    "variables, or compares the clock with a fixed date. Malware uses these to target one victim or to "
    "stay dormant until a date. Plain environment flags are reported at low.",
)
FILESYSTEM_CHANGES = Rule(
    "MLV815",
    "Python source writes or deletes files",
    Severity.MEDIUM,
    "The code deletes files, changes permissions, or writes to absolute paths outside the model "
    "directory. Writes to shell profiles, SSH keys, site-packages or .pth files are persistence "
    "techniques and rated high.",
)
UNSAFE_DESERIALIZATION = Rule(
    "MLV816",
    "Python source deserializes unsafely",
    Severity.HIGH,
    "The code loads pickles or other object formats that run code (pickle, dill, joblib.load, torch.load "
    "without weights_only=True, numpy allow_pickle=True, yaml.load without SafeLoader). Whatever file it "
    "loads becomes code; on downloaded or decoded data this is critical.",
)
SOURCE_UNPARSEABLE = Rule(
    "MLV817",
    "Python source does not parse",
    Severity.LOW,
    "The file looks like Python but does not parse with this interpreter's grammar, so its behaviour was "
    "not analysed. It may be another language, or newer Python syntax; it is rated medium when it "
    "mentions dangerous calls.",
)
REMOTE_CODE = Rule(
    "MLV818",
    "Python source loads more remote code",
    Severity.HIGH,
    "The code fetches and runs code from elsewhere: trust_remote_code=True passed on to another "
    "from_pretrained, torch.hub.load, or dynamic-module loaders. That code was not scanned; scan the "
    "referenced repository before trusting this one.",
)

CREDENTIAL_ACCESS = Rule(
    "MLV851",
    "Python source reads credentials or private data",
    Severity.HIGH,
    "The code opens, lists or copies files that hold credentials, keys or private data (~/.aws/credentials, "
    "~/.ssh keys, .netrc, .pypirc, .git-credentials, browser logins and cookies, wallets). Stealers read "
    "these and send them away. In library code it is medium on its own, high when the module also uses the "
    "network or does it at import time; check where the data goes.",
    ("https://github.com/DataDog/guarddog",),
)

RULES: tuple[Rule, ...] = (
    PROCESS_EXECUTION,
    DYNAMIC_EXECUTION,
    NETWORK_ACCESS,
    FINGERPRINTING,
    FILESYSTEM_CHANGES,
    UNSAFE_DESERIALIZATION,
    SOURCE_UNPARSEABLE,
    REMOTE_CODE,
    CREDENTIAL_ACCESS,
)

RULE_FOR: dict[Behaviour, Rule] = {
    Behaviour.PROCESS: PROCESS_EXECUTION,
    Behaviour.DYNAMIC_CODE: DYNAMIC_EXECUTION,
    Behaviour.NETWORK: NETWORK_ACCESS,
    Behaviour.FINGERPRINT: FINGERPRINTING,
    Behaviour.FILESYSTEM: FILESYSTEM_CHANGES,
    Behaviour.DESERIALIZATION: UNSAFE_DESERIALIZATION,
    Behaviour.REMOTE_CODE: REMOTE_CODE,
    Behaviour.CREDENTIALS: CREDENTIAL_ACCESS,
}

MAX_SOURCE_BYTES = 8 << 20
MAX_FINDINGS_PER_RULE = 50
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)
_PLAIN_ENCODINGS = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252"})
_MARKDOWN = re.compile(r"\A---[ \t]*\r?\n|^```", re.MULTILINE)
"""Front matter or fenced code blocks: Markdown that happens to contain Python lines."""
_DANGEROUS_WORDS = re.compile(
    r"os\.system|os\.popen|subprocess|\b(?:eval|exec)\s*\(|__import__|socket\.|pickle\.loads?|b64decode"
    r"|urlopen|requests\.(?:get|post)|marshal\.loads|ctypes"
)


def scan_python(data: Buffer, ctx: ScanContext) -> None:
    """Parse the module and report what its code would do if imported or run."""
    if len(data) > MAX_SOURCE_BYTES:
        ctx.problem(ProblemKind.LIMIT, f"Python source larger than {MAX_SOURCE_BYTES} bytes not analysed")
        return
    raw = bytes(data)
    try:
        tree = parse_module(raw)  # bytes, so the coding declaration (PEP 263) is honoured as Python would
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError, LookupError) as exc:
        _unparseable(raw, exc, ctx)
        return
    _unusual_encoding(raw, ctx)
    try:
        observations = SourceAnalysis(tree).run()
        origin = ctx.code_origin
        if origin.is_library:
            imported = _imported(raw, ctx, built=origin is CodeOrigin.LIBRARY_BUILT)
            observations = grade_library(observations, tree, imported=imported)
    except RecursionError:
        ctx.problem(ProblemKind.LIMIT, "Python source nested too deeply to analyse")
        return
    report_observations(observations, ctx, graded_as=origin.value)


def report_observations(
    observations: list[Observation], ctx: ScanContext, *, graded_as: str | None = None
) -> None:
    """One finding per behaviour, line and message, at most ``MAX_FINDINGS_PER_RULE`` per rule.

    ``graded_as`` (``model``, ``library-source``, ``library-built``) is recorded in the evidence.
    """
    seen: dict[tuple[Behaviour, int], list[Observation]] = {}
    counts: dict[str, int] = {}
    for found in sorted(observations, key=lambda o: (o.line, -o.severity, len(o.name))):
        earlier = seen.setdefault((found.behaviour, found.line), [])
        if any(_same_or_extension(found, other) for other in earlier):
            continue
        earlier.append(found)
        rule = RULE_FOR[found.behaviour]
        counts[rule.id] = counts.get(rule.id, 0) + 1
        if counts[rule.id] > MAX_FINDINGS_PER_RULE:
            continue
        evidence = {"code": found.code} | ({"name": found.name} if found.name else {})
        if graded_as is not None:
            evidence["graded_as"] = graded_as
        ctx.report(
            rule,
            found.message,
            location=Location(line=found.line),
            evidence=evidence,
            severity=found.severity,
        )


def _imported(raw: bytes, ctx: ScanContext, *, built: bool) -> bool:
    """Whether importing the package runs this library file (scripts with a ``#!`` line never are)."""
    layout = ctx.surroundings
    if raw.startswith(b"#!"):
        return False
    if isinstance(layout, DirectoryLayout | ArchiveLayout):
        return layout.is_imported(ctx.subject, built=built)
    return True


def _same_or_extension(found: Observation, other: Observation) -> bool:
    """``urlopen(u).read()`` resolves to ``...urlopen`` and ``...urlopen.read``: one finding is enough."""
    if found.message == other.message:
        return True
    return bool(other.name) and found.name.startswith(other.name + ".")


def _unparseable(raw: bytes, exc: BaseException, ctx: ScanContext) -> None:
    line = getattr(exc, "lineno", None)
    text = raw.decode("utf-8", "replace")
    if _MARKDOWN.search(text):
        return  # documentation with code samples (a model card): text, never imported
    mentions = sorted({m.group(0).rstrip("( ") for m in _DANGEROUS_WORDS.finditer(text)})
    reason = f"{type(exc).__name__}: {getattr(exc, 'msg', None) or exc}"[:200]
    message = f"source does not parse ({reason})"
    if mentions:
        message += f"; it mentions {', '.join(mentions[:6])}"
    ctx.report(
        SOURCE_UNPARSEABLE,
        message,
        location=Location(line=line if isinstance(line, int) else None),
        evidence={"error": reason, "mentions": mentions[:20]},
        severity=Severity.MEDIUM if mentions else Severity.LOW,
    )


def _unusual_encoding(raw: bytes, ctx: ScanContext) -> None:
    """A coding declaration such as utf-7 makes the file read differently to people and to Python."""
    head = b"\n".join(raw.split(b"\n", 2)[:2])
    match = _COOKIE.search(head)
    if match is None:
        return
    declared = match.group(1).decode("ascii", "replace")
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        return
    if name not in _PLAIN_ENCODINGS:
        ctx.report(
            DYNAMIC_EXECUTION,
            f"source declares the encoding {declared!r}, which hides its real text from reviewers",
            location=Location(line=1),
            evidence={"encoding": declared},
            severity=Severity.MEDIUM,
        )
