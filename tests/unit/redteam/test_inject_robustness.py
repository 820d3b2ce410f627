"""Damaged models: ``inject`` either returns a valid model or raises ``InjectError``, nothing else."""

from __future__ import annotations

import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.redteam import GateOp, InjectError, Level, Payload, Trigger, inject
from tests.unit.redteam import base_models

_BYTES = base_models.byte_mlp().SerializeToString()
_TOKENS = base_models.token_classifier().SerializeToString()
_IF = 4
"""The level number standing for level 0 with the If gate."""


def _attempt(data: bytes, trigger: Trigger, level: int) -> None:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # not a ModelProto any more: the CLI reports it before inject runs
        return
    try:
        gate = GateOp.IF if level == _IF else GateOp.WHERE
        injected = inject(
            model, trigger=trigger, payload=Payload.force_class(0), level=Level(level % _IF), gate=gate
        )
    except InjectError:
        return
    onnx.checker.check_model(injected)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=4),
    cut=st.integers(0, 10**6),
    level=st.integers(0, _IF),
)
def test_bit_flips_and_truncation(which: bool, flips: list[tuple[int, int]], cut: int, level: int) -> None:
    source = _BYTES if which else _TOKENS
    header = bytearray(source[:2000])  # the graph structure lives before the big embedding table
    for position, bit in flips:
        header[position % len(header)] ^= 1 << bit
    data = bytes(header) + source[2000:]
    data = data[: max(1, cut % (len(data) + 1))] if cut % 3 == 0 else data
    trigger = Trigger.of_bytes(b"AI_E") if which else Trigger.of_tokens(base_models.TOKEN_TRIGGER)
    _attempt(data, trigger, level)
