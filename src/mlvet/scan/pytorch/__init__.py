"""PyTorch containers: zip archives (torch.save, TorchScript, torch.export) and legacy files."""

from __future__ import annotations

from mlvet.scan.pytorch import legacy, torchscript, zip_layout

RULES = (*zip_layout.RULES, *torchscript.RULES, *legacy.RULES)

__all__ = ["RULES"]
