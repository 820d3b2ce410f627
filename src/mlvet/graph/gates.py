"""What a suspected trigger gate is: the contract between detection (``graph``) and ``probe``.

Detection fills these from a graph's structure; ``probe`` solves the constraints into a concrete
input that opens the gate and proves it by execution.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class GateKind(enum.Enum):
    """How the trigger is applied to the computation."""

    WHERE = "where"
    """A ``Where`` (or select) switches between the normal and the payload value."""
    IF = "if"
    """An ``If`` node's condition selects a branch."""
    ARITHMETIC = "arithmetic"
    """A 0/1 mask built with Cast/Mul/Sub/Add blends the payload in, with no Where or If."""
    SMOOTH = "smooth"
    """A smooth detector (Sigmoid/Exp/Pow with extreme constants) approximates a comparison."""
    INTERMEDIATE = "intermediate"
    """The condition is read from an intermediate feature instead of a graph input."""
    ENVIRONMENT = "environment"
    """The condition depends on the environment (random, time, shape of the host...), not the input."""


class Relation(enum.Enum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


class Reduction(enum.Enum):
    NONE = "none"
    """The relation holds element-wise over every selected element (all of them must satisfy it)."""
    MEAN = "mean"
    SUM = "sum"
    MAX = "max"
    MIN = "min"


@dataclass(frozen=True)
class Constraint:
    """One comparison the trigger makes on a graph input.

    ``selector`` is a numpy-style index into the input tensor: ints and ``(start, stop, step)``
    triples (``None`` parts allowed), one per leading axis it constrains.
    """

    input: str
    selector: tuple[int | tuple[int | None, int | None, int | None], ...]
    relation: Relation
    value: tuple[float, ...]
    """Broadcast over the selected elements (or compared with the reduction)."""
    reduction: Reduction = Reduction.NONE


@dataclass(frozen=True)
class Gate:
    """A suspected injected gate, with everything a finding and a probe need."""

    kind: GateKind
    inputs: tuple[str, ...]
    """Graph inputs the trigger reads (empty for environment gates)."""
    trigger_nodes: tuple[str, ...]
    """The nodes that compute the condition."""
    join_node: str
    """Where the condition meets the normal computation."""
    payload_nodes: tuple[str, ...]
    """The nodes (or initializers) that produce the value substituted when the gate opens."""
    outputs: tuple[str, ...]
    """Graph outputs the gate feeds."""
    constraints: tuple[Constraint, ...]
    """Every comparison found; empty when the condition could not be expressed (probe then searches)."""
    predicate: str
    """The condition in words, e.g. ``bytes[0:4] == 41 49 5F 45``."""
