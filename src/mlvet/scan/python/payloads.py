"""Code hidden in a Python module as constants: strings, and base64/hex/zlib/rot13 encodings of them.

The payload is decoded (bounded, never executed) so that the analysis can read the code it hides.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import zlib

from mlvet.scan.python.catalog import DECODERS
from mlvet.scan.python.names import Bindings, constant_str

MAX_PAYLOAD_BYTES = 1 << 20
MAX_HOPS = 8


def hidden_payload(node: ast.expr, names: Bindings, hops: int = 0) -> str | None:
    """The source text an exec'd expression holds, when it is a constant or a decoded constant."""
    if hops > MAX_HOPS:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        value = node.value
        return value[:MAX_PAYLOAD_BYTES].decode("latin-1") if isinstance(value, bytes) else value
    if isinstance(node, ast.Name) and node.id in names.values:
        return hidden_payload(names.values[node.id], names, hops + 1)
    if not isinstance(node, ast.Call):
        return None
    method = node.func if isinstance(node.func, ast.Attribute) else None
    if method is not None and method.attr == "decode" and not _is_module(method.value, names):
        return hidden_payload(method.value, names, hops + 1)
    name = names.resolve(node.func) or ""
    inner = hidden_payload(node.args[0], names, hops + 1) if node.args else None
    if inner is None or not DECODERS.fullmatch(name):
        return None
    extra = constant_str(node.args[1]) if len(node.args) > 1 else None
    return _decode(name, inner, extra)


def _is_module(node: ast.expr, names: Bindings) -> bool:
    return isinstance(node, ast.Name) and node.id in names.aliases


def _decode(name: str, text: str, extra: str | None) -> str | None:
    data = text.encode("latin-1", "replace")
    try:
        if "b64decode" in name or "a2b_base64" in name or "decodebytes" in name:
            decoded = base64.b64decode(
                data + b"=" * (-len(data) % 4), altchars=b"-_" if "urlsafe" in name else None
            )
        elif "b32decode" in name:
            decoded = base64.b32decode(data + b"=" * (-len(data) % 8))
        elif "b16decode" in name or "hex" in name:
            decoded = binascii.unhexlify(data.strip())
        elif "decompress" in name:
            decompressor = (
                zlib.decompressobj(zlib.MAX_WBITS | 32) if "zlib" in name or "gzip" in name else None
            )
            if decompressor is None:
                return None
            decoded = decompressor.decompress(data, MAX_PAYLOAD_BYTES)
        elif name == "codecs.decode" and extra is not None:
            codec = extra.replace("_", "").replace("-", "").lower()
            if codec == "rot13":
                return codecs.decode(text, "rot13")
            if codec not in ("hex", "base64"):
                return None
            decoded = binascii.unhexlify(data.strip()) if codec == "hex" else base64.b64decode(data)
        else:
            return None
    except (binascii.Error, ValueError, zlib.error, LookupError, TypeError):
        return None
    return decoded[:MAX_PAYLOAD_BYTES].decode("latin-1")
