"""joblib's inline arrays: raw array bytes written inside the pickle stream, right after the BUILD of a
``NumpyArrayWrapper``.

joblib (``numpy_pickle.NumpyArrayWrapper.write_array``) writes, for arrays without Python objects,
one byte N and N padding bytes (when the wrapper has ``numpy_array_alignment_bytes``), then
``prod(shape) * itemsize`` raw bytes; for object arrays it writes a complete protocol-5 pickle
instead. The walker skips exactly those bytes (or scans that pickle) and keeps parsing, so a
payload placed after an array is still seen.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mlvet.scan.pickle.values import Call, Global, OpRef

if TYPE_CHECKING:
    from mlvet.scan.pickle.interpreter import Interpreter

WRAPPERS = frozenset({"joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle_utils.NumpyArrayWrapper"})
_DIGITS = re.compile(r"(\d+)$")
_REFCOUNT_FLAG = 0x01
"""NPY_ITEM_REFCOUNT in a pickled dtype's flags: the dtype holds Python objects."""


def after_build(it: Interpreter, obj: Call, origin: OpRef, pos: int) -> int:
    """Where parsing continues after BUILD of ``obj``: past its inline array when it is a wrapper."""
    cls = instance_class(obj)
    if cls is None or cls.judgement is None or cls.judgement.qualified not in WRAPPERS:
        return pos
    from mlvet.scan.pickle.interpreter import Break

    state = obj.state
    if type(state) is dict and type(state.get("subclass")) is Global:
        # joblib rebuilds arrays of other subclasses with numpy's _reconstruct(subclass, ...).
        it.call(state["subclass"], None, origin, "array subclass of a joblib NumpyArrayWrapper")
    layout = _layout(state) if type(state) is dict else None
    if layout is None:
        raise Break("joblib NumpyArrayWrapper state does not say how many array bytes follow")
    itemsize, count, has_objects = layout
    if has_objects:
        return _object_array(it, pos)
    if state.get("numpy_array_alignment_bytes") is not None:
        if pos >= it.end:
            raise Break("joblib array padding is missing")
        pos += 1 + it.data[pos]
    size = itemsize * count
    if pos + size > it.end:
        raise Break(f"joblib inline array declares {size} bytes but only {it.end - pos} remain", abuse=True)
    return pos + size


def instance_class(obj: Call) -> Global | None:
    """The class ``obj`` is an instance of: the callee, or the class handed to a copyreg helper."""
    func = obj.func
    if type(func) is not Global or func.judgement is None:
        return None
    if func.judgement.called_arguments and type(obj.args) is tuple and obj.args:
        first = obj.args[0]
        return first if type(first) is Global else None
    return func


def _layout(state: dict[Any, Any]) -> tuple[int, int, bool] | None:
    """(itemsize, element count, holds Python objects) from a wrapper's state, or None."""
    dtype = state.get("dtype")
    shape = state.get("shape")
    if type(dtype) is not Call or type(shape) is not tuple:
        return None
    described = _dtype(dtype)
    if described is None:
        return None
    count = 1
    for extent in shape:
        if type(extent) is not int or extent < 0:
            return None
        count *= extent
        if count > 1 << 62:
            return None
    itemsize, has_objects = described
    return itemsize, count, has_objects


def _dtype(dtype: Call) -> tuple[int, bool] | None:
    """(itemsize, holds objects) from ``numpy.dtype(descr, align, copy)`` and its BUILD state."""
    cls = dtype.func
    if type(cls) is not Global or cls.judgement is None or cls.judgement.qualified != "numpy.dtype":
        return None
    args = dtype.args
    if type(args) is not tuple or not args or type(args[0]) is not str:
        return None
    descr = args[0]
    state = dtype.state
    elsize = state[5] if type(state) is tuple and len(state) > 7 and type(state[5]) is int else -1
    flags = state[7] if type(state) is tuple and len(state) > 7 and type(state[7]) is int else 0
    has_objects = descr.startswith("O") or bool(flags & _REFCOUNT_FLAG)
    if elsize > 0:
        return elsize, has_objects
    digits = _DIGITS.search(descr)
    if digits is None:
        return None
    return int(digits.group(1)), has_objects


def _object_array(it: Interpreter, pos: int) -> int:
    """An object array is a complete pickle of its own right here: scan it and continue after it."""
    from mlvet.scan.pickle.interpreter import Break, Interpreter
    from mlvet.scan.pickle.walker import walk

    inner = Interpreter(it.data, it.ctx, it.session, pos, it.end, stream=it.stream, joblib_inline=False)
    stop, complete = walk(inner, pos)
    inner.finish()
    if not complete:
        raise Break("the pickle of a joblib object array breaks")
    return stop
