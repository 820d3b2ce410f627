"""Tensors of a ``torch.save`` zip archive, read without unpickling.

``data.pkl`` is parsed opcode by opcode (``pickletools.genops``: a parser, it imports nothing) by a
strict evaluator that knows only what ``torch.save`` writes for tensors: ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` and the ``torch.*Storage`` persistent
ids. Every other global becomes an opaque value and is never resolved. Storages are located through
the relaxed zip reader that ``mlvet scan`` uses; their bytes are read later, in chunks, from the file.

Why not the scanner's interpreter (``scan.pickle``): it judges globals and calls for findings and
deliberately drops what a loader would put into objects built by calls (an ``OrderedDict``'s items)
and the contents of persistent ids, which is exactly what a state-dict reader needs.
"""

from __future__ import annotations

import math
import pickletools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet._internal.zipreader import ZipArchive, ZipError, open_zip
from mlvet.artifacts import open_buffer
from mlvet.diff.tensors import ITEM_SIZES, TensorRef
from mlvet.scan.pytorch.zip_layout import TorchLayout

MAX_PICKLE_BYTES = 256 << 20
MAX_OPCODES = 20_000_000
MAX_NESTING = 64
"""State dicts nest a few levels (model / optimizer / state); deeper containers are refused."""
STORED = 0

STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}  # fmt: skip
_CONSTANT_OPS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING",
     "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES",
     "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}
)  # fmt: skip


class StateDictError(ValueError):
    """The archive is not a ``torch.save`` zip whose tensors can be located."""


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass
class _Object:
    """What a call built: an OrderedDict collects items; anything else stays opaque."""

    what: str
    items: dict[Any, Any] = field(default_factory=dict)
    is_mapping: bool = False


@dataclass(frozen=True)
class _Storage:
    dtype: str
    key: str
    numel: int


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


_MARK = object()


def read_state_dict(path: Path) -> list[TensorRef]:
    """Every tensor of the archive, named by its dotted key path, in pickle order."""
    with open_buffer(path) as data:
        try:
            archive = open_zip(data)
        except ZipError as exc:
            raise StateDictError(f"not a zip archive: {exc}") from None
        layout = TorchLayout.detect(archive.entries)
        if layout is None:
            raise StateDictError("no data.pkl: not a torch.save archive")
        pickle_entry = next((e for e in archive.entries if layout.relative(e.name) == "data.pkl"), None)
        if pickle_entry is None:
            raise StateDictError("no data.pkl: a TorchScript or export archive, not a state dict")
        member = archive.read(pickle_entry, MAX_PICKLE_BYTES)
        if not member.complete:
            raise StateDictError(f"data.pkl cannot be read: {member.error or 'larger than the limit'}")
        root = _evaluate(bytes(member.data))
        storages = _storage_offsets(archive, layout)
    tensors: list[TensorRef] = []
    for name, tensor in _flatten(root, ""):
        tensors.append(_ref(path, name, tensor, storages))
    return tensors


def _storage_offsets(archive: ZipArchive, layout: TorchLayout) -> dict[str, tuple[int, int]]:
    """Storage key -> (file offset, size) of each stored ``data/<key>`` member."""
    found: dict[str, tuple[int, int]] = {}
    for entry in archive.entries:
        rel = layout.relative(entry.name)
        if rel is None or not rel.startswith("data/") or entry.data_offset is None:
            continue
        if entry.method != STORED:
            raise StateDictError(
                f"storage {entry.name!r} is compressed; torch.save stores storages uncompressed"
            )
        found[rel[len("data/") :]] = (entry.data_offset, entry.compressed_size)
    return found


def _ref(path: Path, name: str, tensor: _Tensor, storages: dict[str, tuple[int, int]]) -> TensorRef:
    location = storages.get(tensor.storage.key)
    if location is None:
        raise StateDictError(
            f"tensor {name!r} refers to storage {tensor.storage.key!r}, which the archive lacks"
        )
    start, size = location
    itemsize = ITEM_SIZES[tensor.storage.dtype]
    if len(tensor.shape) != len(tensor.stride) or any(d < 0 for d in tensor.shape):
        raise StateDictError(
            f"tensor {name!r} has an inconsistent shape {tensor.shape} / stride {tensor.stride}"
        )
    elements = math.prod(tensor.shape)
    span = (
        0 if elements == 0 else 1 + sum((d - 1) * s for d, s in zip(tensor.shape, tensor.stride, strict=True))
    )
    if (tensor.offset + span) * itemsize > size or tensor.offset < 0:
        raise StateDictError(f"tensor {name!r} reaches past the end of its storage")
    contiguous = _is_contiguous(tensor.shape, tensor.stride)
    return TensorRef(
        name=name,
        dtype=tensor.storage.dtype,
        shape=tensor.shape,
        nbytes=elements * itemsize,
        path=path,
        offset=start + tensor.offset * itemsize,
        strides=None if contiguous else tensor.stride,
    )


def _is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for dim, step in zip(reversed(shape), reversed(stride), strict=True):
        if dim != 1 and step != expected:
            return False
        expected *= dim
    return True


def _flatten(value: Any, prefix: str, depth: int = 0) -> list[tuple[str, _Tensor]]:
    if depth > MAX_NESTING:
        raise StateDictError(f"containers nested deeper than {MAX_NESTING} levels at {prefix[:80]!r}")
    if isinstance(value, _Tensor):
        return [(prefix or "tensor", value)]
    items: list[tuple[Any, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, _Object) and value.is_mapping:
        items = list(value.items.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        return []
    found: list[tuple[str, _Tensor]] = []
    for key, item in items:
        found.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key), depth + 1))
    return found


def _evaluate(data: bytes) -> Any:
    """The value ``data`` would unpickle to, with tensors as ``_Tensor`` and unknown objects opaque."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
            if count > MAX_OPCODES:
                raise StateDictError("data.pkl has too many opcodes")
            name = opcode.name
            if name == "STOP":
                return stack.pop()
            _step(name, arg, stack, memo)
    except StateDictError:
        raise
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise StateDictError(f"data.pkl does not parse: {exc}") from None
    raise StateDictError("data.pkl ends before STOP")


def _pop_mark(stack: list[Any]) -> list[Any]:
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] is _MARK:
            items = stack[index + 1 :]
            del stack[index:]
            return items
    raise StateDictError("data.pkl pops a MARK that was never pushed")


def _step(name: str, arg: Any, stack: list[Any], memo: dict[int, Any]) -> None:
    if name in _CONSTANT_OPS:
        stack.append(arg)
    elif name in ("PROTO", "FRAME"):
        return
    elif name == "MARK":
        stack.append(_MARK)
    elif name == "NONE":
        stack.append(None)
    elif name in ("NEWTRUE", "NEWFALSE"):
        stack.append(name == "NEWTRUE")
    elif name == "EMPTY_DICT":
        stack.append({})
    elif name in ("EMPTY_LIST", "EMPTY_SET"):
        stack.append([])
    elif name == "EMPTY_TUPLE":
        stack.append(())
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        size = int(name[-1])
        packed = tuple(stack[-size:])
        del stack[-size:]
        stack.append(packed)
    elif name == "TUPLE":
        stack.append(tuple(_pop_mark(stack)))
    elif name in ("LIST", "FROZENSET"):
        stack.append(_pop_mark(stack))
    elif name == "DICT":
        items = _pop_mark(stack)
        stack.append(dict(zip(items[::2], items[1::2], strict=False)))
    elif name in ("APPEND", "APPENDS", "ADDITEMS"):
        items = [stack.pop()] if name == "APPEND" else _pop_mark(stack)
        if isinstance(stack[-1], list):
            stack[-1].extend(items)
    elif name in ("SETITEM", "SETITEMS"):
        if name == "SETITEM":
            value = stack.pop()
            items = [stack.pop(), value]
        else:
            items = _pop_mark(stack)
        _set_items(stack[-1], items)
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[int(arg)] = stack[-1]
    elif name == "MEMOIZE":
        memo[len(memo)] = stack[-1]
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        stack.append(memo[int(arg)])
    elif name in ("GLOBAL", "INST"):
        module, _, attr = str(arg).partition(" ")
        stack.append(_Global(module, attr))
    elif name == "STACK_GLOBAL":
        attr, module = stack.pop(), stack.pop()
        stack.append(_Global(str(module), str(attr)))
    elif name in ("REDUCE", "NEWOBJ"):
        args = stack.pop()
        stack[-1] = _call(stack[-1], args)
    elif name == "NEWOBJ_EX":
        stack.pop()
        args = stack.pop()
        stack[-1] = _call(stack[-1], args)
    elif name == "BUILD":
        stack.pop()  # state of an OrderedDict (its _metadata) or of an opaque object: not needed
    elif name == "BINPERSID":
        stack[-1] = _persistent(stack[-1])
    elif name == "POP":
        stack.pop()
    elif name == "POP_MARK":
        _pop_mark(stack)
    elif name == "DUP":
        stack.append(stack[-1])
    else:
        stack.append(_Object(f"unsupported opcode {name}"))


def _set_items(target: Any, items: list[Any]) -> None:
    pairs = zip(items[::2], items[1::2], strict=False)
    if isinstance(target, dict):
        target.update((k, v) for k, v in pairs if _hashable(k))
    elif isinstance(target, _Object) and target.is_mapping:
        target.items.update((k, v) for k, v in pairs if _hashable(k))


def _hashable(key: Any) -> bool:
    return isinstance(key, str | int | float | bool | tuple | bytes) or key is None


def _call(func: Any, args: Any) -> Any:
    if not isinstance(func, _Global):
        return _Object("result of an opaque call")
    qualified = f"{func.module}.{func.name}"
    arguments = args if isinstance(args, tuple) else ()
    if qualified == "collections.OrderedDict":
        return _Object(qualified, is_mapping=True)
    if (
        qualified in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor")
        and len(arguments) >= 4
    ):
        storage, offset, size, stride = arguments[:4]
        if (
            isinstance(storage, _Storage)
            and isinstance(offset, int)
            and _int_tuple(size)
            and _int_tuple(stride)
        ):
            return _Tensor(storage, offset, tuple(size), tuple(stride))
    if qualified in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"):
        return arguments[0] if arguments and isinstance(arguments[0], _Tensor) else _Object(qualified)
    return _Object(qualified)


def _int_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _persistent(pid: Any) -> Any:
    if (
        isinstance(pid, tuple)
        and len(pid) >= 5
        and pid[0] == "storage"
        and isinstance(pid[1], _Global)
        and pid[1].module == "torch"
        and pid[1].name in STORAGE_DTYPES
        and isinstance(pid[2], str)
        and isinstance(pid[4], int)
    ):
        return _Storage(STORAGE_DTYPES[pid[1].name], pid[2], pid[4])
    return _Object("persistent object")
