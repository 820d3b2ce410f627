"""Search for an input that opens a gate when its constraints are missing or do not solve it.

The search changes only the elements the trigger reads. It first fills that region with candidate
values (the trigger's own constants, the input's extremes); what those fills moved becomes the
signal to climb (see ``GateProbe.moving``). For each direction (up, then down) it optimises one fill
value for float regions (a line search), then runs a coordinate search with random restarts.
Every model run counts against the budget; the first run that opens the gate ends the search.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlvet.probe.condition import closeness, is_open
from mlvet.probe.run import Evaluation, ModelRunner
from mlvet.probe.spec import InputSpec

Signal = tuple[str, ...]
"""The trigger tensors whose means the search pushes; empty when none moved."""

_OPEN_BONUS = 1e6
_CONDITION_WEIGHT = 10.0
_MAX_POSITIONS = 128
_FLOAT_STEPS = (-10.0, -3.0, -1.0, 0.0, 1.0, 3.0, 10.0)
_LINE_GRID = (0.0, *(sign * 10.0 ** (k / 2) for sign in (-1.0, 1.0) for k in range(-2, 7)))
"""Fill values tried before refining: 0 and +-0.1 ... +-1000 on a half-decade grid."""
_GOLDEN = (5**0.5 - 1) / 2
_GOLDEN_STEPS = 24


@dataclass(frozen=True)
class GateProbe:
    """What the search watches: the condition, the trigger's values, and their clean reference."""

    condition: str
    trigger_values: tuple[str, ...]
    """Trigger tensors in graph order (the last ones are closest to the condition)."""
    reference: Mapping[str, np.ndarray]
    regions: Mapping[str, np.ndarray]
    """Per input, the boolean mask of elements the trigger reads."""
    constants: tuple[float, ...]

    def opened(self, evaluation: Evaluation) -> bool:
        value = evaluation.probes.get(self.condition)
        reference = self.reference.get(self.condition)
        return value is not None and reference is not None and is_open(value, reference)

    def score(self, evaluation: Evaluation, signal: Signal, direction: int) -> float:
        """Opening first; then the signal's means pushed in ``direction`` (or any movement at all)."""
        score = _OPEN_BONUS if self.opened(evaluation) else 0.0
        if signal:
            for name in signal:
                value, reference = _mean(evaluation.probes[name]), _mean(self.reference[name])
                score += direction * (value - reference) / (abs(reference) + 1.0)
            return score
        watched = [self.condition, *self.trigger_values]
        pairs = [(evaluation.probes[n], self.reference[n]) for n in watched if n in evaluation.probes]
        return score + closeness(pairs[:1]) * _CONDITION_WEIGHT + closeness(pairs[1:])

    def moving(self, evaluations: Sequence[Evaluation]) -> Signal:
        """What to climb: the trigger values whose mean moved on some of ``evaluations``.

        Every moving boolean (a chain of comparisons: more matches is progress), else the moving
        numeric value closest to the condition (a distance, a sigmoid's input).
        """
        moved = [
            name
            for name in self.trigger_values
            if name in self.reference
            and any(
                name in e.probes
                and abs(_mean(e.probes[name]) - _mean(self.reference[name]))
                > 1e-9 * (abs(_mean(self.reference[name])) + 1)
                for e in evaluations
            )
        ]
        logical = tuple(n for n in moved if self.reference[n].dtype == np.bool_)
        return logical or tuple(moved[-1:])


@dataclass(frozen=True)
class SearchResult:
    feed: dict[str, np.ndarray] | None
    """An input that opens the gate, or None when the budget ran out first."""
    evaluations: int


def search(
    runner: ModelRunner,
    probe: GateProbe,
    specs: Sequence[InputSpec],
    start: Mapping[str, np.ndarray],
    *,
    budget: int,
    rng: np.random.Generator,
) -> SearchResult:
    """Look for an opening input near ``start`` within ``budget`` model runs.

    The signal is climbed upwards with half the remaining budget, then downwards: the search cannot
    know whether the trigger wants a large value (a sigmoid's input, a count of matches) or a small
    one (a distance to a constant).
    """
    state = _State(runner, budget)
    origin = _copy(start)
    state.run(origin, probe)
    searched = [spec for spec in specs if spec.name in probe.regions and probe.regions[spec.name].any()]
    seen: list[Evaluation] = []
    for spec in searched:
        for value in _candidates(spec, probe.constants):
            if state.done:
                return state.result()
            trial = _copy(origin)
            trial[spec.name][probe.regions[spec.name]] = _cast(value, spec)
            seen.append(state.run(trial, probe))
    signal = probe.moving(seen)
    directions = (1, -1) if signal else (0,)
    for index, direction in enumerate(directions):
        share = (state.budget - state.evaluations) // (len(directions) - index)
        until = state.evaluations + share
        for spec in searched:
            if not spec.is_integer:
                _line_search(state, probe, (signal, direction), origin, spec, until)
        _climb(state, probe, (signal, direction), origin, searched, rng, until)
    return state.result()


def _line_search(
    state: _State,
    probe: GateProbe,
    objective: tuple[Signal, int],
    origin: dict[str, np.ndarray],
    spec: InputSpec,
    until: int,
) -> None:
    """Fill the region with one value and optimise that value (solid patches, level thresholds)."""
    signal, direction = objective
    region = probe.regions[spec.name]

    def score(value: float) -> float:
        trial = _copy(origin)
        trial[spec.name][region] = _cast(value, spec)
        return probe.score(state.run(trial, probe), signal, direction)

    grid = sorted({*_LINE_GRID, *(c for c in probe.constants if abs(c) < 1e6)})
    scores: list[float] = []
    for value in grid:
        if state.done or state.evaluations >= until:
            return
        scores.append(score(value))
    best = int(np.argmax(scores))
    low = grid[max(best - 1, 0)]
    high = grid[min(best + 1, len(grid) - 1)]
    for _ in range(_GOLDEN_STEPS):
        if state.done or state.evaluations >= until or high - low < 1e-9:
            return
        left, right = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
        if score(left) >= score(right):
            high = right
        else:
            low = left


def _climb(
    state: _State,
    probe: GateProbe,
    objective: tuple[Signal, int],
    origin: dict[str, np.ndarray],
    searched: Sequence[InputSpec],
    rng: np.random.Generator,
    until: int,
) -> None:
    """Coordinate search with random restarts until the gate opens or ``until`` runs are spent."""
    signal, direction = objective
    best = origin
    best_score = probe.score(state.run(best, probe), signal, direction)
    while not state.done and state.evaluations < until:
        improved = False
        for spec, block in _blocks(searched, probe.regions, rng):
            for value in _candidates(spec, probe.constants, rng):
                if state.done or state.evaluations >= until:
                    return
                trial = _copy(best)
                trial[spec.name].flat[block] = _cast(value, spec)
                score = probe.score(state.run(trial, probe), signal, direction)
                if score > best_score + 1e-12:
                    best, best_score, improved = trial, score, True
        if not improved:
            best = _restart(origin, searched, probe.regions, rng)
            best_score = probe.score(state.run(best, probe), signal, direction)


class _State:
    """Counts model runs and remembers the first input that opened the gate."""

    def __init__(self, runner: ModelRunner, budget: int) -> None:
        self.runner, self.budget = runner, budget
        self.evaluations = 0
        self.found: dict[str, np.ndarray] | None = None

    @property
    def done(self) -> bool:
        return self.found is not None or self.evaluations >= self.budget

    def run(self, feed: dict[str, np.ndarray], probe: GateProbe) -> Evaluation:
        self.evaluations += 1
        evaluation = self.runner.run(feed)
        if self.found is None and probe.opened(evaluation):
            self.found = feed
        return evaluation

    def result(self) -> SearchResult:
        return SearchResult(self.found, self.evaluations)


def _candidates(
    spec: InputSpec, constants: Sequence[float], rng: np.random.Generator | None = None
) -> list[float]:
    values: dict[float, None] = {}
    for constant in constants:
        if spec.is_integer:
            for near in (constant, constant + 1, constant - 1):
                values[float(round(near))] = None
        else:
            nudge = 0.01 * max(1.0, abs(constant))
            for near in (
                constant + nudge,
                constant - nudge,
                constant,
                constant + 0.5,
                constant - 0.5,
                2 * constant,
            ):
                values[near] = None
    values[spec.low] = None
    values[spec.high] = None
    if not spec.is_integer:
        for step in _FLOAT_STEPS:
            values[step] = None
    if rng is not None:
        values[float(rng.uniform(spec.low, spec.high))] = None
    limit_low, limit_high = _limits(spec)
    admissible = [v for v in values if limit_low <= v <= limit_high]
    return sorted(admissible, key=lambda v: not spec.low <= v <= spec.high)


def _blocks(
    specs: Sequence[InputSpec], regions: Mapping[str, np.ndarray], rng: np.random.Generator
) -> Iterator[tuple[InputSpec, np.ndarray]]:
    """Single elements of each region in random order; contiguous blocks when a region is large."""
    for spec in specs:
        flat = np.flatnonzero(regions[spec.name])
        chunks = np.array_split(flat, min(len(flat), _MAX_POSITIONS))
        for index in rng.permutation(len(chunks)):
            yield spec, chunks[int(index)]


def _restart(
    start: Mapping[str, np.ndarray],
    specs: Sequence[InputSpec],
    regions: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    feed = _copy(start)
    for spec in specs:
        mask = regions[spec.name]
        count = int(mask.sum())
        if spec.is_integer:
            feed[spec.name][mask] = rng.integers(int(spec.low), int(spec.high) + 1, size=count).astype(
                spec.dtype
            )
        else:
            feed[spec.name][mask] = rng.uniform(spec.low, spec.high, size=count).astype(spec.dtype)
    return feed


def _limits(spec: InputSpec) -> tuple[float, float]:
    if spec.dtype == np.bool_:
        return 0.0, 1.0
    if spec.table_rows is not None:
        return 0.0, float(spec.table_rows - 1)
    if np.issubdtype(spec.dtype, np.integer):
        info = np.iinfo(spec.dtype)  # type: ignore[type-var]
        return float(info.min), float(info.max)
    return -np.inf, np.inf


def _cast(value: float, spec: InputSpec) -> np.ndarray:
    return np.asarray(value).astype(spec.dtype)


def _copy(feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.array(value, copy=True) for name, value in feed.items()}


def _mean(value: np.ndarray) -> float:
    return float(np.nan_to_num(np.mean(value.astype(np.float64)))) if value.size else 0.0
