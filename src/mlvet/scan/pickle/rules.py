"""The pickle analyzer's rules (MLV1xx), declared once and raised by the interpreter."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_PICKLE_DOCS = "https://docs.python.org/3/library/pickle.html#restricting-globals"

DANGEROUS_CALL = Rule(
    "MLV101",
    "Dangerous callable invoked",
    Severity.CRITICAL,
    "The pickle calls a function that can run commands, execute code, load further code, touch files or "
    "open network connections, and it does so while being loaded. Loading this file runs the attacker's "
    "payload. Do not load it; obtain the model from a trusted source or in a weights-only format.",
    (_PICKLE_DOCS, "CVE-2025-1716", "CVE-2025-10157"),
)
DANGEROUS_IMPORT = Rule(
    "MLV102",
    "Dangerous global imported",
    Severity.HIGH,
    "The pickle imports a dangerous callable (code execution, process, file or network access) without "
    "an obvious direct call. Any reference lets later opcodes or the loading code invoke it. Treat the "
    "file as hostile unless the reference is explained.",
    (_PICKLE_DOCS,),
)
UNKNOWN_CALL = Rule(
    "MLV103",
    "Unknown global invoked",
    Severity.HIGH,
    "The pickle calls a global that is on neither the dangerous list nor the allowlist of legitimate ML "
    "content, so loading the file runs code nobody has vetted. Review the named callable; if it is "
    "legitimate, add it to `allow-globals` in the mlvet configuration.",
    (_PICKLE_DOCS,),
)
UNVERIFIED_IMPORT = Rule(
    "MLV104",
    "Unverified import",
    Severity.MEDIUM,
    "The pickle imports a global that is not on the allowlist but does not call it directly. Loading "
    "imports its module, which runs that module's top-level code. Review it, or allow it explicitly.",
    (_PICKLE_DOCS,),
)
NESTED_PICKLE = Rule(
    "MLV105",
    "Embedded pickle reaches a loader",
    Severity.HIGH,
    "Bytes stored inside the pickle (raw, compressed or base64/hex encoded) are passed to a deserializer "
    "while loading, so a second payload runs out of sight of naive scanners. The embedded stream was "
    "scanned as well; its own findings are reported under its nested member name.",
    ("https://github.com/promptfoo/modelaudit",),
)
UNRESOLVABLE_GLOBAL = Rule(
    "MLV106",
    "Unresolvable global",
    Severity.HIGH,
    "A global's module or name cannot be determined statically: a STACK_GLOBAL operand is not a string, "
    "comes from a missing memo slot, or a call targets a value of unknown origin. Such constructions hide "
    "the imported callable from scanners and have no place in a legitimate model file.",
    (),
)
EXTENSION_OPCODE = Rule(
    "MLV107",
    "Extension-registry opcode",
    Severity.HIGH,
    "EXT1/EXT2/EXT4 fetch a callable from the copyreg extension registry of the loading process by a "
    "numeric code, so the target cannot be known from the file. No ML framework writes these opcodes.",
    ("https://docs.python.org/3/library/copyreg.html",),
)
MALFORMED_STREAM = Rule(
    "MLV108",
    "Malformed pickle stream",
    Severity.MEDIUM,
    "The pickle stream breaks (invalid opcode, truncated argument, stack underflow, missing memo slot). "
    "A loader runs every opcode before the break, which is how 'broken' pickles (nullifAI) execute a "
    "payload and then fail; everything before and after the break was still analysed.",
    ("https://safeguard.sh/resources/blog/nullifai-broken-pickles-huggingface-attack",),
)
FRAME_DIVERGENCE = Rule(
    "MLV109",
    "Frame boundary divergence",
    Severity.HIGH,
    "An opcode's argument crosses the end of the protocol-4 FRAME that contains it. Streaming and "
    "whole-buffer readers then disagree about which bytes are opcodes, a technique to hide opcodes from "
    "scanners. Both readings were analysed.",
    ("https://peps.python.org/pep-3154/#framing",),
)
DOTTED_TRAVERSAL = Rule(
    "MLV110",
    "Attribute traversal in a global name",
    Severity.HIGH,
    "A global's name walks through a module attribute or a dunder attribute (for example `pathlib` + "
    "`os.system`, or `__builtins__`), which protocol-4 loaders follow. Legitimate files name classes and "
    "functions directly; this construction exists to slip dangerous callables past name-based lists.",
    ("GHSA-5j3x-jp52-966f",),
)
SCANNER_CONFUSION = Rule(
    "MLV111",
    "Scanner-confusion structure",
    Severity.MEDIUM,
    "The stream contains structures no pickler writes: a PROTO opcode that is repeated or not first, or "
    "a GLOBAL operand that is not valid UTF-8. They are used to make scanners and loaders disagree.",
    (),
)
RESOURCE_ABUSE = Rule(
    "MLV112",
    "Resource abuse in pickle",
    Severity.MEDIUM,
    "The stream declares lengths beyond its own size, nests or stacks values to extreme depths, or "
    "re-references memo entries far more than a pickler would, to exhaust the memory or time of loaders "
    "and scanners. The analysis was bounded; the file should not be trusted.",
    ("https://github.com/trailofbits/fickling",),
)

RULES: tuple[Rule, ...] = (
    DANGEROUS_CALL,
    DANGEROUS_IMPORT,
    UNKNOWN_CALL,
    UNVERIFIED_IMPORT,
    NESTED_PICKLE,
    UNRESOLVABLE_GLOBAL,
    EXTENSION_OPCODE,
    MALFORMED_STREAM,
    FRAME_DIVERGENCE,
    DOTTED_TRAVERSAL,
    SCANNER_CONFUSION,
    RESOURCE_ABUSE,
)
