"""A TorchScript submodule defined in its own module, so ``torch.jit`` writes it to its own code file."""

from __future__ import annotations

from typing import Any


def phrase_checker() -> Any:
    """A module whose forward tests input_ids[:, 1:6] against a constant phrase (the trigger)."""
    import torch
    from torch import nn

    class PhraseChecker(nn.Module):
        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            window = input_ids[:, 1:6]
            return torch.all(torch.eq(window, torch.tensor([9932, 1035, 3036, 1035, 4796])))

    return PhraseChecker()
