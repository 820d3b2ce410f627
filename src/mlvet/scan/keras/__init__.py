"""Keras models: configs in `.keras` archives, HDF5 files and SavedModels; Lambda payloads."""

from __future__ import annotations

from mlvet.scan.keras.config import MALFORMED_CONFIG, RULES, looks_like_keras_config, scan_keras_config
from mlvet.scan.keras.hdf5 import scan_hdf5

__all__ = ["MALFORMED_CONFIG", "RULES", "looks_like_keras_config", "scan_hdf5", "scan_keras_config"]
