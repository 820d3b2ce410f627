"""Which comparisons of input values are triggers, and which are masks, guards or routers.

A raw-input comparison is a trigger when it collapses the input to a decision: a selected slice,
a reduction, or a constant sequence; comparing token ids with a tokenizer's special ids (padding,
causal masks) is not. A hidden-feature comparison is a trigger when a reduction of an early layer's
output is thresholded and joins deeper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlvet.graph.expressions import Comparison
from mlvet.graph.gates import Reduction

if TYPE_CHECKING:
    from mlvet.graph.detect import Candidate, Detector

SPECIAL_TOKEN_IDS = frozenset(
    {
        -100, -1, 0, 1, 2, 3, 100, 101, 102, 103, 49406, 49407, 50256, 32000,
        128000, 128001, 128009, 151643, 151645,
    }
)  # fmt: skip
"""Pad/unk/cls/sep/mask/bos/eos ids of common tokenizers (BERT 0/100-103, T5/Llama 0-3, CLIP, GPT-2,
Llama 3, Qwen) and the -100/-1 ignore labels: comparisons with them are masks, not triggers."""
INTEGER_TYPES = frozenset({"int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64"})


def suspicious_raw(detector: Detector, comparison: Comparison) -> bool:
    """A comparison of raw input values that collapses the input to a trigger (not a mask)."""
    if not detector.facts.raw.get(comparison.value, 0) & detector.input_mask:
        return False
    side, constant = comparison.side, comparison.constant
    if constant is None:  # a stored constant of unknown value (a TorchScript buffer, external data)
        stored = detector.graph.constants.get(comparison.constant_name)
        return stored is not None and side.selected and not side.index_op
    values = [float(v) for v in constant.reshape(-1)]
    if any(v != v or abs(v) == float("inf") for v in values):
        return False
    if side.index_op:
        return False
    if comparison.elem_type in INTEGER_TYPES and side.reduction is Reduction.NONE:
        if all(int(v) in SPECIAL_TOKEN_IDS for v in values):
            return False
        if len(values) == 1:
            return side.selected and any(isinstance(axis, int) for axis in side.selector)
        return True
    return side.selected or side.reduction is not Reduction.NONE or len(values) >= 2


def feature_gate(detector: Detector, comparison: Comparison, candidate: Candidate) -> bool:
    """A reduction of a hidden feature compared with one constant, on a side shallower than the join."""
    side = comparison.side
    if side.reduction is Reduction.NONE or side.index_op or comparison.constant is None:
        return False
    if comparison.constant.size != 1 or candidate.main is None:
        return False
    level = detector.facts.depth.get(comparison.value, 0)
    return 1 <= level < detector.facts.depth.get(candidate.main, 0)
