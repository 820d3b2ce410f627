"""Turn a gate's constraints into a concrete input that satisfies them all.

Every constraint becomes per-element bounds on the selected elements: an element-wise relation
bounds each element; a threshold on a mean, max or min is met by bounding every selected element the
same way; a sum threshold bounds each element by ``value / count``. Each element then takes the
value closest to its clean value that lies strictly inside its bounds (or the required constant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlvet.graph.gates import Constraint, Reduction, Relation
from mlvet.probe.spec import InputSpec

Index = tuple[int | slice, ...]


class Unsolvable(ValueError):
    """The constraints contradict each other, or do not fit the input."""


def selection(constraint: Constraint) -> Index:
    """The numpy index a constraint's selector stands for."""
    return tuple(slice(*item) if isinstance(item, tuple) else int(item) for item in constraint.selector)


def solve(
    constraints: Sequence[Constraint], specs: Sequence[InputSpec], feed: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """A copy of ``feed`` changed just enough to satisfy ``constraints``; raises Unsolvable."""
    by_name = {spec.name: spec for spec in specs}
    solved = {name: np.array(value, copy=True) for name, value in feed.items()}
    for name in dict.fromkeys(c.input for c in constraints):
        spec = by_name.get(name)
        if spec is None:
            raise Unsolvable(f"the trigger reads {name!r}, which is not a graph input")
        mine = [c for c in constraints if c.input == name]
        solved[name] = _solve_input(mine, spec, solved[name])
    return solved


def satisfied(constraints: Sequence[Constraint], feed: Mapping[str, np.ndarray]) -> bool:
    """Whether ``feed`` already satisfies every constraint (then it is no clean input)."""
    if not constraints:
        return False
    for constraint in constraints:
        value = feed.get(constraint.input)
        if value is None:
            return False
        try:
            selected = np.asarray(value[selection(constraint)], dtype=np.float64)
            target = np.asarray(constraint.value, dtype=np.float64)
            reduced = _reduce(selected, constraint.reduction)
            if reduced is None:
                target = np.broadcast_to(target.reshape(_trailing(target, selected)), selected.shape)
                reduced = selected
            if not bool(np.all(_compare(reduced, constraint.relation, target))):
                return False
        except (IndexError, ValueError):
            return False
    return True


@dataclass
class _Bounds:
    low: np.ndarray
    high: np.ndarray
    low_strict: np.ndarray
    high_strict: np.ndarray
    equal: np.ndarray
    not_equal: np.ndarray
    touched: np.ndarray


def _solve_input(constraints: list[Constraint], spec: InputSpec, current: np.ndarray) -> np.ndarray:
    shape = current.shape
    bounds = _Bounds(
        low=np.full(shape, -math.inf),
        high=np.full(shape, math.inf),
        low_strict=np.zeros(shape, dtype=bool),
        high_strict=np.zeros(shape, dtype=bool),
        equal=np.full(shape, math.nan),
        not_equal=np.full(shape, math.nan),
        touched=np.zeros(shape, dtype=bool),
    )
    for constraint in constraints:
        _apply(constraint, bounds)
    return _choose(bounds, spec, current)


def _apply(constraint: Constraint, bounds: _Bounds) -> None:
    try:
        index = selection(constraint)
        region = bounds.touched[index]
    except IndexError:
        raise Unsolvable(f"selector {constraint.selector} is out of range for {constraint.input!r}") from None
    if region.size == 0:
        raise Unsolvable(f"selector {constraint.selector} selects nothing in {constraint.input!r}")
    target = np.asarray(constraint.value, dtype=np.float64)
    if constraint.reduction is Reduction.NONE:
        try:
            target = np.broadcast_to(target.reshape(_trailing(target, region)), region.shape)
        except ValueError:
            raise Unsolvable(f"{target.size} constant(s) do not fit the selection {region.shape}") from None
    elif target.size != 1:
        raise Unsolvable("a reduction is compared with more than one value")
    elif constraint.reduction is Reduction.SUM:
        target = np.broadcast_to(target / region.size, region.shape)
    else:
        target = np.broadcast_to(target, region.shape)
    bounds.touched[index] = True
    relation = constraint.relation
    if relation is Relation.EQ:
        previous = bounds.equal[index]
        clash = ~np.isnan(previous) & (previous != target)
        if np.any(clash):
            raise Unsolvable(f"{constraint.input!r} must equal two different constants")
        bounds.equal[index] = target
    elif relation is Relation.NE:
        bounds.not_equal[index] = target
    elif relation in (Relation.GT, Relation.GE):
        _tighten(bounds.low, bounds.low_strict, index, target, relation is Relation.GT, np.greater)
    else:
        _tighten(bounds.high, bounds.high_strict, index, target, relation is Relation.LT, np.less)


def _tighten(
    edge: np.ndarray, strict: np.ndarray, index: Index, target: np.ndarray, is_strict: bool, tighter: np.ufunc
) -> None:
    old = edge[index]
    old_strict = strict[index]
    better = tighter(target, old) | ((target == old) & is_strict)
    edge[index] = np.where(better, target, old)
    strict[index] = np.where(better, is_strict, old_strict)


def _choose(bounds: _Bounds, spec: InputSpec, current: np.ndarray) -> np.ndarray:
    result = np.asarray(current, dtype=np.float64).copy()
    for position in zip(*np.nonzero(bounds.touched), strict=True):
        low, high = float(bounds.low[position]), float(bounds.high[position])
        low_strict, high_strict = bool(bounds.low_strict[position]), bool(bounds.high_strict[position])
        equal, avoid = float(bounds.equal[position]), float(bounds.not_equal[position])
        value = _pick(spec, float(result[position]), low, high, low_strict, high_strict, equal, avoid)
        result[position] = value
    return _cast(result, spec)


def _pick(
    spec: InputSpec,
    clean: float,
    low: float,
    high: float,
    low_strict: bool,
    high_strict: bool,
    equal: float,
    avoid: float,
) -> float:
    if spec.is_integer:
        info_low, info_high = _integer_limits(spec)
        low = max(_integer_edge(low, low_strict, up=True), info_low)
        high = min(_integer_edge(high, high_strict, up=False), info_high)
        low_strict = high_strict = False
    elif spec.kind == "image" and max(low, spec.low) < min(high, spec.high):
        low, low_strict = (spec.low, False) if spec.low > low else (low, low_strict)
        high, high_strict = (spec.high, False) if spec.high < high else (high, high_strict)
    if not math.isnan(equal):
        if not _inside(equal, low, high, low_strict, high_strict):
            raise Unsolvable(f"the constant {equal:g} lies outside the bounds the other comparisons set")
        return equal
    if low > high or (low == high and (low_strict or high_strict)):
        raise Unsolvable(f"no value lies in the interval ({low:g}, {high:g})")
    value = _nearest_inside(clean, low, high, low_strict, high_strict, spec.is_integer)
    if not math.isnan(avoid) and value == avoid:
        for candidate in (avoid + 1, avoid - 1, avoid + 0.5, avoid - 0.5):
            if _inside(candidate, low, high, low_strict, high_strict) and (
                not spec.is_integer or candidate.is_integer()
            ):
                return candidate
        raise Unsolvable(f"the only admissible value is the forbidden {avoid:g}")
    return value


def _nearest_inside(
    clean: float, low: float, high: float, low_strict: bool, high_strict: bool, integer: bool
) -> float:
    if integer:
        return float(min(max(round(clean), low), high))
    span = high - low
    margin = 0.1 * span if math.isfinite(span) else None
    if clean < low or (clean == low and low_strict) or (margin is not None and clean < low + margin):
        step = margin if margin is not None else max(0.25 * abs(low), 0.25)
        return low + step
    if clean > high or (clean == high and high_strict) or (margin is not None and clean > high - margin):
        step = margin if margin is not None else max(0.25 * abs(high), 0.25)
        return high - step
    return clean


def _integer_edge(bound: float, strict: bool, *, up: bool) -> float:
    """The first integer inside a lower (``up``) or upper bound."""
    if not math.isfinite(bound):
        return bound
    if up:
        return math.floor(bound) + 1 if strict else math.ceil(bound)
    return math.ceil(bound) - 1 if strict else math.floor(bound)


def _inside(value: float, low: float, high: float, low_strict: bool, high_strict: bool) -> bool:
    above = value > low if low_strict else value >= low
    below = value < high if high_strict else value <= high
    return above and below


def _integer_limits(spec: InputSpec) -> tuple[int, int]:
    if spec.dtype == np.bool_:
        return 0, 1
    info = np.iinfo(spec.dtype)  # type: ignore[type-var]
    return int(info.min), int(info.max)


def _cast(values: np.ndarray, spec: InputSpec) -> np.ndarray:
    if spec.dtype == np.bool_:
        return np.asarray(values != 0)
    return np.asarray(values.astype(spec.dtype))


def _trailing(target: np.ndarray, region: np.ndarray) -> tuple[int, ...]:
    """The shape to view ``target`` in so it broadcasts over ``region`` from the trailing axes."""
    if target.size in (1, region.size):
        return () if target.size == 1 else region.shape
    for start in range(region.ndim):
        if math.prod(region.shape[start:]) == target.size:
            return region.shape[start:]
    return target.shape


def _reduce(selected: np.ndarray, reduction: Reduction) -> np.ndarray | None:
    if reduction is Reduction.NONE:
        return None
    if selected.size == 0:
        raise ValueError("empty selection")
    if reduction is Reduction.MEAN:
        return np.asarray(selected.mean())
    if reduction is Reduction.SUM:
        return np.asarray(selected.sum())
    if reduction is Reduction.MAX:
        return np.asarray(selected.max())
    return np.asarray(selected.min())


def _compare(values: np.ndarray, relation: Relation, target: np.ndarray) -> np.ndarray:
    operations = {
        Relation.EQ: np.equal,
        Relation.NE: np.not_equal,
        Relation.GT: np.greater,
        Relation.GE: np.greater_equal,
        Relation.LT: np.less,
        Relation.LE: np.less_equal,
    }
    return np.asarray(operations[relation](values, target))
