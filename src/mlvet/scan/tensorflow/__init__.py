"""TensorFlow SavedModels, frozen GraphDefs and `keras_metadata.pb`, parsed without TensorFlow."""

from __future__ import annotations

from mlvet.scan.tensorflow.saved_model import RULES, scan_saved_model

__all__ = ["RULES", "scan_saved_model"]
