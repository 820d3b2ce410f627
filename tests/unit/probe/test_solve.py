"""The constraint solver: equalities, intervals, reduction thresholds, contradictions."""

from __future__ import annotations

import numpy as np
import pytest

from mlvet.graph.gates import Constraint, Reduction, Relation
from mlvet.probe.solve import Unsolvable, satisfied, solve
from mlvet.probe.spec import InputSpec


def _spec(name: str, dtype: type, shape: tuple[int, ...], low: float, high: float, kind: str) -> InputSpec:
    return InputSpec(name, np.dtype(dtype), shape, low, high, kind)


BYTES = _spec("bytes", np.uint8, (1, 64), 0, 255, "bytes")
IMAGE = _spec("image", np.float32, (1, 3, 8, 8), 0, 1, "image")
FLOATS = _spec("x", np.float32, (1, 8), -3, 3, "float")


def _zeros(spec: InputSpec) -> dict[str, np.ndarray]:
    return {spec.name: np.zeros(spec.shape, dtype=spec.dtype)}


def test_byte_equality_writes_exactly_the_trigger_bytes() -> None:
    feed = {"bytes": np.full((1, 64), 7, dtype=np.uint8)}
    trigger = Constraint("bytes", (0, (0, 4, None)), Relation.EQ, tuple(b"AI_E"))
    solved = solve([trigger], [BYTES], feed)["bytes"]
    assert solved.dtype == np.uint8 and solved[0, :4].tobytes() == b"AI_E"
    assert bool(np.all(solved[0, 4:] == 7)) and bool(np.all(feed["bytes"] == 7))
    assert satisfied([trigger], {"bytes": solved}) and not satisfied([trigger], feed)


def test_mean_threshold_over_a_patch_stays_inside_the_image_range() -> None:
    patch = (0, (None, None, None), (0, 4, None), (0, 4, None))
    rule = Constraint("image", patch, Relation.GT, (0.9,), Reduction.MEAN)
    solved = solve([rule], [IMAGE], _zeros(IMAGE))["image"]
    assert solved[0, :, :4, :4].mean() > 0.9 and solved.max() <= 1.0
    assert bool(np.all(solved[0, :, 4:, :] == 0))


def test_interval_from_two_constraints_picks_a_value_strictly_inside() -> None:
    rules = [
        Constraint("x", (0, (0, 2, None)), Relation.GT, (1.0,)),
        Constraint("x", (0, (0, 2, None)), Relation.LT, (1.5,)),
    ]
    solved = solve(rules, [FLOATS], _zeros(FLOATS))["x"]
    assert bool(np.all((solved[0, :2] > 1.0) & (solved[0, :2] < 1.5)))


def test_sum_max_min_and_not_equal() -> None:
    rules = [
        Constraint("bytes", (0, (0, 10, None)), Relation.GE, (1000.0,), Reduction.SUM),
        Constraint("bytes", (0, (10, 12, None)), Relation.GT, (200.0,), Reduction.MAX),
        Constraint("bytes", (0, (12, 14, None)), Relation.LT, (3.0,), Reduction.MIN),
        Constraint("bytes", (0, 20), Relation.NE, (0.0,)),
    ]
    solved = solve(rules, [BYTES], _zeros(BYTES))
    assert satisfied(rules, solved)


def test_elementwise_bound_on_integers_respects_strictness() -> None:
    rule = Constraint("bytes", (0, (0, 3, None)), Relation.GT, (250.0,))
    solved = solve([rule], [BYTES], _zeros(BYTES))["bytes"]
    assert solved[0, :3].tolist() == [251, 251, 251]


@pytest.mark.parametrize(
    "rules",
    [
        [
            Constraint("bytes", (0, 0), Relation.EQ, (1.0,)),
            Constraint("bytes", (0, 0), Relation.EQ, (2.0,)),
        ],
        [Constraint("bytes", (0, 0), Relation.GT, (255.0,))],
        [Constraint("bytes", (0, 0), Relation.EQ, (300.0,))],
        [Constraint("bytes", (0, (0, 3, None)), Relation.EQ, (1.0, 2.0))],
        [Constraint("bytes", (5, 0), Relation.EQ, (1.0,))],
        [Constraint("other", (0,), Relation.EQ, (1.0,))],
    ],
)
def test_contradictions_and_misfits_are_unsolvable(rules: list[Constraint]) -> None:
    with pytest.raises(Unsolvable):
        solve(rules, [BYTES], _zeros(BYTES))


def test_search_never_tries_token_ids_past_the_embedding_table() -> None:
    from mlvet.probe.search import _candidates

    spec = InputSpec("input_ids", np.dtype(np.int64), (1, 6), 0.0, 999.0, "tokens", table_rows=1000)
    values = _candidates(spec, constants=[1500.0, 42.0], rng=np.random.default_rng(0))
    assert values and max(values) <= 999 and min(values) >= 0
    assert 42.0 in values
