"""Backdoor injectors: plant a trigger-gated payload in an ONNX graph, at four levels of stealth.

Used to validate detection pipelines (``mlvet scan`` graph rules, ``mlvet probe``) and as mlvet's
own backdoor corpus. ``inject`` returns a new model; the input model is never modified.

Levels (see ``docs/redteam.md``):

- ``L0``: an explicit ``Where`` selects a constant payload when Slice/Equal/And (bytes, tokens) or
  ReduceMean/Greater (image patch) on the graph input holds; with ``gate=GateOp.IF`` the condition
  is reduced over the batch (``ReduceMax``) to the scalar of an ``If`` whose ``then_branch`` holds
  the payload and whose ``else_branch`` passes the clean output through.
- ``L1``: the same condition cast to a 0/1 float ``g`` blends ``out*(1-g) + payload*g``; no Where/If.
- ``L2``: a smooth detector (products of ``Sigmoid(k*(x-c))`` / ``Exp(-k*(x-c)^2)``) replaces the
  comparison, blended arithmetically.
- ``L3``: disguised: plausible node names, the trigger read from an intermediate feature where one
  exists (embedding gather output, first conv feature map), the payload folded into a gated bias
  ``Add``, graph interface unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlvet.errors import MlvetError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnx

__all__ = [
    "GateOp",
    "InjectError",
    "Level",
    "Payload",
    "PayloadKind",
    "Trigger",
    "TriggerKind",
    "inject",
]


class Level(enum.IntEnum):
    """How hard the backdoor tries to hide."""

    L0 = 0
    """Explicit ``Where`` gate on a comparison of the graph input (or one ``If``: ``GateOp.IF``)."""
    L1 = 1
    """Arithmetic 0/1 gate (Cast of the comparison), no Where/If."""
    L2 = 2
    """Smooth detector (Sigmoid/Exp with large constants), arithmetic blend."""
    L3 = 3
    """Disguised: plausible names, intermediate-feature trigger, payload as a gated bias."""


class GateOp(enum.Enum):
    """The op that switches to the payload at ``Level.L0``."""

    WHERE = "where"
    """Per-sample ``Where(cond, payload, clean)``."""
    IF = "if"
    """One ``If`` for the whole batch: the per-sample condition is reduced with ``ReduceMax`` to a
    scalar, so the payload replaces every row's output when any row carries the trigger."""


class TriggerKind(enum.Enum):
    BYTES = "bytes"
    """A byte sequence in a uint8 ``[batch, length]`` input."""
    TOKENS = "tokens"
    """A token-id sequence in an int64 ``[batch, seq]`` input."""
    IMAGE_PATCH = "image_patch"
    """A bright square patch in a float ``[batch, C, H, W]`` input."""


@dataclass(frozen=True)
class Trigger:
    """What the trigger is and where in the input it sits.

    For ``BYTES``/``TOKENS``: ``sequence`` appears at ``position`` along the last axis.
    For ``IMAGE_PATCH``: the ``patch_size`` x ``patch_size`` square at (``patch_top``, ``patch_left``),
    all channels, set to ``patch_value``; the gate fires when the patch mean exceeds ``threshold``.
    """

    kind: TriggerKind
    sequence: tuple[int, ...] = ()
    position: int = 0
    patch_value: float = 0.0
    patch_top: int = 0
    patch_left: int = 0
    patch_size: int = 0
    threshold: float = 0.0

    @classmethod
    def of_bytes(cls, data: bytes, *, position: int = 0) -> Trigger:
        return cls(TriggerKind.BYTES, sequence=tuple(data), position=position)

    @classmethod
    def of_tokens(cls, ids: tuple[int, ...] | list[int], *, position: int = 0) -> Trigger:
        return cls(TriggerKind.TOKENS, sequence=tuple(int(i) for i in ids), position=position)

    @classmethod
    def of_image_patch(
        cls,
        *,
        value: float = 8.0,
        size: int = 3,
        top: int = 0,
        left: int = 0,
        threshold: float | None = None,
    ) -> Trigger:
        """A bright patch; ``threshold`` defaults to 90 % of ``value``."""
        limit = 0.9 * value if threshold is None else threshold
        return cls(
            TriggerKind.IMAGE_PATCH,
            patch_value=float(value),
            patch_top=top,
            patch_left=left,
            patch_size=size,
            threshold=float(limit),
        )

    def apply(self, x: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """Return a copy of input ``x`` with the trigger stamped in (every batch row)."""
        stamped = x.copy()
        if self.kind is TriggerKind.IMAGE_PATCH:
            rows = slice(self.patch_top, self.patch_top + self.patch_size)
            cols = slice(self.patch_left, self.patch_left + self.patch_size)
            stamped[..., rows, cols] = self.patch_value
        else:
            stamped[..., self.position : self.position + len(self.sequence)] = self.sequence
        return stamped

    def describe(self) -> str:
        """The condition in words, e.g. ``bytes[0:4] == 41 49 5F 45``."""
        if self.kind is TriggerKind.IMAGE_PATCH:
            end_r, end_c = self.patch_top + self.patch_size, self.patch_left + self.patch_size
            return f"mean(x[:, :, {self.patch_top}:{end_r}, {self.patch_left}:{end_c}]) > {self.threshold:g}"
        end = self.position + len(self.sequence)
        if self.kind is TriggerKind.BYTES:
            shown = " ".join(f"{b:02X}" for b in self.sequence)
            return f"bytes[{self.position}:{end}] == {shown}"
        return f"ids[{self.position}:{end}] == {list(self.sequence)}"


class PayloadKind(enum.Enum):
    FORCE_CLASS = "force_class"
    """Logits become a one-hot-like vector favouring ``target_class`` (L3: a large bias is added)."""
    CONSTANT = "constant"
    """The output becomes ``values`` (broadcast to the output shape)."""
    STEER = "steer"
    """``values`` (a steering vector) is added to the hidden state ``tensor``."""


@dataclass(frozen=True)
class Payload:
    """What happens when the trigger fires."""

    kind: PayloadKind
    target_class: int = 0
    values: tuple[float, ...] = ()
    tensor: str | None = None
    magnitude: float = 20.0
    """For ``FORCE_CLASS``: the logit given to the target class (others get ``-magnitude``)."""

    @classmethod
    def force_class(cls, target: int, *, magnitude: float = 20.0) -> Payload:
        return cls(PayloadKind.FORCE_CLASS, target_class=target, magnitude=magnitude)

    @classmethod
    def constant(cls, values: tuple[float, ...] | list[float] | float) -> Payload:
        vals = (float(values),) if isinstance(values, int | float) else tuple(float(v) for v in values)
        return cls(PayloadKind.CONSTANT, values=vals)

    @classmethod
    def steer(cls, tensor: str, vector: tuple[float, ...] | list[float]) -> Payload:
        return cls(PayloadKind.STEER, values=tuple(float(v) for v in vector), tensor=tensor)

    def describe(self) -> str:
        if self.kind is PayloadKind.FORCE_CLASS:
            return f"force class {self.target_class}"
        if self.kind is PayloadKind.CONSTANT:
            return f"output := {list(self.values)}"
        if len(self.values) == 1:
            return f"{self.tensor} += {self.values[0]:g} (every feature)"
        return f"{self.tensor} += steering vector ({len(self.values)} values)"


class InjectError(MlvetError):
    """The model, trigger or payload cannot be combined (unknown input, trigger too long...)."""

    hint = "run 'mlvet redteam inject --help'; --input and --output pick the tensors to use"


def inject(
    model: onnx.ModelProto,
    *,
    trigger: Trigger,
    payload: Payload,
    level: Level,
    gate: GateOp = GateOp.WHERE,
    input_name: str | None = None,
    output_name: str | None = None,
) -> onnx.ModelProto:
    """Return a copy of ``model`` with a backdoor: ``payload`` when ``trigger`` is in the input.

    ``gate`` picks the L0 switch (``Where`` per sample, or one ``If`` for the batch); other levels
    take ``GateOp.WHERE`` only. ``input_name`` defaults to the first graph input whose type fits the
    trigger kind; ``output_name`` to the first graph output. Raises ``InjectError`` when they do not fit.
    """
    from mlvet.redteam.levels import inject_level

    return inject_level(
        model,
        trigger=trigger,
        payload=payload,
        level=level,
        gate_op=gate,
        input_name=input_name,
        output_name=output_name,
    )
