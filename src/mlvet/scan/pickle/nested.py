"""Pickles embedded in a pickle: bytes (raw, compressed, base64/hex) that a loader call deserializes.

Pure decoders applied to constant data (``zlib.decompress``, ``base64.b64decode``, ``codecs.decode``...)
are evaluated here, by mlvet's own code on the constant bytes, never by calling the global the stream
names; the result is bounded. The embedded stream is scanned as a nested member of the subject.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import lzma
import re
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlvet.artifacts import Format, sniff
from mlvet.scan.pickle.globals_policy import judge
from mlvet.scan.pickle.rules import NESTED_PICKLE
from mlvet.scan.pickle.values import Blob, Call, Global, OpRef, root_global

if TYPE_CHECKING:
    from mlvet.scan.pickle.interpreter import Interpreter

MAX_DECODED = 64 << 20
MAX_INSPECTED = 256 << 20
"""Constant bytes examined per scanned buffer, whatever the number of calls that reference them."""
MAX_CHAIN = 8

PICKLE_LOADERS = frozenset(
    {
        "pickle.loads", "pickle.load", "pickle._loads", "pickle._load", "pickle.Unpickler",
        "pickle._Unpickler", "_pickle.loads", "_pickle.load", "_pickle.Unpickler", "dill.loads",
        "dill.load", "dill._dill.loads", "dill._dill.load", "dill.Unpickler", "dill._dill.Unpickler",
        "cloudpickle.loads", "cloudpickle.load", "cloudpickle.cloudpickle.loads",
        "torch.utils._config_module.ConfigModule.load_config", "lib2to3.pgen2.grammar.Grammar.loads",
        "pandas.read_pickle", "pandas.io.pickle.read_pickle", "numpy.loads",
        "numpy.core.multiarray.loads", "numpy._core.multiarray.loads", "shelve.Unpickler",
    }
)  # fmt: skip
MODEL_LOADERS = frozenset(
    {
        "torch.load", "torch.serialization.load", "torch.storage._load_from_bytes", "joblib.load",
        "joblib.numpy_pickle.load", "numpy.load", "numpy.lib.npyio.load", "torch.jit.load",
        "torch.jit._serialization.load",
    }
)  # fmt: skip
_FILE_WRAPPERS = frozenset(
    {"io.BytesIO", "_io.BytesIO", "io.BufferedReader", "_io.BufferedReader", "builtins.bytes",
     "builtins.bytearray", "builtins.memoryview"}
)  # fmt: skip
_TEXT = re.compile(rb"[A-Za-z0-9+/=_\-\s]+")


def inspect_call(it: Interpreter, func: Any, args: Any, origin: OpRef) -> None:
    """When a non-allowlisted call receives embedded pickle bytes, report and scan them."""
    if type(args) is not tuple or not args:
        return
    loader = _loader_name(func, args)
    if loader is not None and type(func) is Global and func.judgement is not None and _is_partial(func):
        args = args[1:]
    for value in args[:4]:
        decoded = _constant(it, value, [], 0)
        if decoded is None:
            continue
        data, chain = decoded
        blob = data if isinstance(data, bytes) else data.encode("latin-1", "replace")
        fmt = sniff(blob)
        if loader is not None and fmt is not Format.PICKLE:
            unwrapped = _decode_text(blob)
            if unwrapped is not None:
                blob, fmt, chain = unwrapped, sniff(unwrapped), [*chain, "base64/hex text"]
        if fmt is Format.PICKLE or (loader in MODEL_LOADERS and fmt not in (Format.TEXT, Format.UNKNOWN)):
            _scan_embedded(it, blob, fmt, loader, chain, origin)
            return


def _is_partial(func: Global) -> bool:
    return func.judgement is not None and func.judgement.qualified == "functools.partial"


def _loader_name(func: Any, args: tuple[Any, ...]) -> str | None:
    root = root_global(func)
    if root is None or root.judgement is None:
        return None
    name = root.judgement.qualified
    if name == "functools.partial" and args and type(args[0]) is Global:
        return _loader_name(args[0], ())
    if type(func) is Call and name == "builtins.getattr" and type(func.args) is tuple and len(func.args) == 2:
        owner, attribute = _module_name(func.args[0]), func.args[1]
        if owner is not None and type(attribute) is str:
            candidate = judge(owner, attribute).qualified
            return candidate if candidate in PICKLE_LOADERS | MODEL_LOADERS else None
    return name if name in PICKLE_LOADERS or name in MODEL_LOADERS else None


_IMPORTERS = frozenset(
    {"importlib.import_module", "builtins.__import__", "pydoc.locate", "pkgutil.resolve_name"}
)


def _module_name(value: Any) -> str | None:
    """The dotted name a value stands for: a global, or a module imported by name from a constant."""
    if type(value) is Global and value.judgement is not None:
        return value.judgement.qualified
    root = root_global(value)
    if type(value) is Call and root is not None and root.judgement is not None:
        args = value.args
        if root.judgement.qualified in _IMPORTERS and type(args) is tuple and args and type(args[0]) is str:
            return args[0]
    return None


def _scan_embedded(
    it: Interpreter, blob: bytes, fmt: Format, loader: str | None, chain: list[str], origin: OpRef
) -> None:
    fingerprint = hash(blob)
    if fingerprint in it.session.embedded:
        return
    it.session.embedded.add(fingerprint)
    it.session.nested += 1
    member = f"<nested pickle #{it.session.nested} at opcode {origin[2]}>"
    decoded_by = " <- ".join(reversed(chain)) if chain else "stored raw"
    target = loader or "a non-allowlisted call"
    message = (
        f"embedded {fmt.value} of {len(blob)} bytes ({decoded_by}) reaches {target} "
        f"({origin[0]} at opcode {origin[2]}); scanned as {member}"
    )
    evidence = {"loader": loader, "size": len(blob), "decoders": chain, "member": member}
    it.reporter.note(NESTED_PICKLE, member, message, origin, evidence)
    expect = Format.PICKLE if loader is None or loader in PICKLE_LOADERS else None
    it.ctx.scan_member(blob, member, expect=expect)


def _constant(
    it: Interpreter, value: Any, chain: list[str], depth: int
) -> tuple[bytes | str, list[str]] | None:
    """The constant bytes/text ``value`` stands for, evaluating pure decoders; None when unknown."""
    kind = type(value)
    if kind is bytes or kind is str or kind is bytearray or kind is Blob:
        size = value.length if kind is Blob else len(value)
        it.session.inspected_bytes += size
        if it.session.inspected_bytes > MAX_INSPECTED:
            return None
        data = it.materialize(value, MAX_DECODED)
        return (data, chain) if data is not None else None
    if kind is not Call or depth >= MAX_CHAIN:
        return None
    callee = value.func
    if (
        type(callee) is not Global
        or callee.judgement is None
        or type(value.args) is not tuple
        or not value.args
    ):
        return None
    name = callee.judgement.qualified
    inner = _constant(it, value.args[0], chain, depth + 1)
    if inner is None:
        return None
    data, inner_chain = inner
    if name in _FILE_WRAPPERS:
        return data, inner_chain
    decoder = DECODERS.get(name)
    if decoder is None:
        return None
    try:
        result = decoder(data, value.args[1:])
    except (
        ValueError,
        TypeError,
        zlib.error,
        lzma.LZMAError,
        OSError,
        EOFError,
        binascii.Error,
        LookupError,
    ):
        return None
    if result is None or len(result) > MAX_DECODED:
        return None
    if name in _DECOMPRESSORS and not it.ctx.charge_decompressed(len(result)):
        return None
    return result, [*inner_chain, name]


def _as_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode("latin-1")


def _inflate(data: bytes | str, wbits: int) -> bytes | None:
    engine = zlib.decompressobj(wbits)
    out = engine.decompress(_as_bytes(data), MAX_DECODED + 1)
    return out if len(out) <= MAX_DECODED else None


def _bounded(engine: Any, data: bytes | str) -> bytes | None:
    out: bytes = engine.decompress(_as_bytes(data), max_length=MAX_DECODED + 1)
    return out if len(out) <= MAX_DECODED else None


def _int_arg(rest: tuple[Any, ...], default: int) -> int:
    return rest[0] if rest and type(rest[0]) is int else default


def _codec(data: bytes | str, rest: tuple[Any, ...]) -> bytes | str | None:
    encoding = (rest[0] if rest and type(rest[0]) is str else "utf-8").lower().replace("-", "_")
    if encoding in ("base64", "base_64", "base64_codec"):
        return base64.b64decode(_as_bytes(data))
    if encoding in ("hex", "hex_codec"):
        return binascii.unhexlify(_as_bytes(data))
    if encoding in ("zlib", "zip", "zlib_codec"):
        return _inflate(data, 15)
    if encoding in ("bz2", "bz2_codec"):
        return _bounded(bz2.BZ2Decompressor(), data)
    if encoding in ("latin1", "latin_1", "iso8859_1", "iso_8859_1", "utf_8", "utf8", "ascii"):
        return data.decode(encoding) if type(data) is bytes else data
    return None


def _encode(data: bytes | str, rest: tuple[Any, ...]) -> bytes | None:
    encoding = (rest[0] if rest and type(rest[0]) is str else "utf-8").lower().replace("-", "_")
    if type(data) is str and encoding in ("latin1", "latin_1", "iso8859_1", "utf_8", "utf8", "ascii"):
        return data.encode(encoding)
    return None


def _decode_text(blob: bytes) -> bytes | None:
    """A loader argument that is base64 or hex text of a pickle: its decoded bytes."""
    text = blob.strip()
    if not text or len(text) > MAX_DECODED or not _TEXT.fullmatch(text[:4096]):
        return None
    for decode in (lambda t: base64.b64decode(t, validate=False), binascii.unhexlify,
                   lambda t: base64.urlsafe_b64decode(t)):  # fmt: skip
        try:
            out = decode(text)
        except (ValueError, binascii.Error):
            continue
        if sniff(out) is Format.PICKLE:
            return out
    return None


_DECOMPRESSORS = frozenset({"zlib.decompress", "gzip.decompress", "bz2.decompress", "lzma.decompress"})

Decoder = Callable[[bytes | str, tuple[Any, ...]], bytes | str | None]
DECODERS: dict[str, Decoder] = {
    "zlib.decompress": lambda d, r: _inflate(d, _int_arg(r, 15)),
    "gzip.decompress": lambda d, r: _inflate(d, 31),
    "bz2.decompress": lambda d, r: _bounded(bz2.BZ2Decompressor(), d),
    "lzma.decompress": lambda d, r: _bounded(lzma.LZMADecompressor(), d),
    "base64.b64decode": lambda d, r: base64.b64decode(
        _as_bytes(d), r[0] if r and type(r[0]) is bytes else None
    ),
    "base64.standard_b64decode": lambda d, r: base64.standard_b64decode(_as_bytes(d)),
    "base64.urlsafe_b64decode": lambda d, r: base64.urlsafe_b64decode(_as_bytes(d)),
    "base64.decodebytes": lambda d, r: base64.decodebytes(_as_bytes(d)),
    "base64.decodestring": lambda d, r: base64.decodebytes(_as_bytes(d)),
    "base64.b32decode": lambda d, r: base64.b32decode(_as_bytes(d), casefold=True),
    "base64.b32hexdecode": lambda d, r: base64.b32hexdecode(_as_bytes(d), casefold=True),
    "base64.b16decode": lambda d, r: base64.b16decode(_as_bytes(d), casefold=True),
    "base64.a85decode": lambda d, r: base64.a85decode(_as_bytes(d)),
    "base64.b85decode": lambda d, r: base64.b85decode(_as_bytes(d)),
    "binascii.a2b_base64": lambda d, r: binascii.a2b_base64(_as_bytes(d)),
    "binascii.unhexlify": lambda d, r: binascii.unhexlify(_as_bytes(d)),
    "binascii.a2b_hex": lambda d, r: binascii.a2b_hex(_as_bytes(d)),
    "builtins.bytes.fromhex": lambda d, r: bytes.fromhex(d) if type(d) is str else None,
    "builtins.bytearray.fromhex": lambda d, r: bytes.fromhex(d) if type(d) is str else None,
    "codecs.decode": _codec,
    "_codecs.decode": _codec,
    "codecs.encode": _encode,
    "_codecs.encode": _encode,
}
