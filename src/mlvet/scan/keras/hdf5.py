"""HDF5 files: Keras 2 / tf.keras ``.h5`` models, Keras 3 legacy ``.h5`` and plain weight files.

A Keras ``.h5`` model keeps its architecture as JSON in the root attributes ``model_config`` and
``training_config``; those go through the Keras config analysis. Weight files without them are
clean. Findings use the Keras rules (MLV301-MLV305). The attributes are read by ``hdf5_reader``,
not by h5py: libhdf5 can loop forever on a damaged attribute, and a scan must end.
"""

from __future__ import annotations

import json

from mlvet.artifacts import Buffer
from mlvet.findings import ProblemKind
from mlvet.scan.base import ScanContext
from mlvet.scan.keras.config import MALFORMED_CONFIG, scan_keras_config
from mlvet.scan.keras.hdf5_reader import HDF5Error, read_root_attributes

CONFIG_ATTRIBUTES = ("model_config", "training_config")


def scan_hdf5(data: Buffer, ctx: ScanContext) -> None:
    """Run the Keras config analysis on the configs stored in the root attributes."""
    try:
        root = read_root_attributes(data)
    except HDF5Error as exc:
        ctx.problem(ProblemKind.CORRUPT, f"unreadable HDF5 file: {exc}")
        return
    for reason in dict.fromkeys(root.unread):
        ctx.problem(ProblemKind.UNSUPPORTED, f"HDF5 root group: {reason}")
    for attribute in root.attributes:
        if attribute.name in CONFIG_ATTRIBUTES:
            _scan_config(attribute.name, attribute.text, ctx)


def _scan_config(name: str, text: str | None, ctx: ScanContext) -> None:
    source = f"HDF5 attribute {name}"
    evidence = {"attribute": name}
    if text is None:
        ctx.report(MALFORMED_CONFIG, f"{source} is not a string", evidence=evidence)
        return
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        ctx.report(MALFORMED_CONFIG, f"{source} is not valid JSON: {exc}", evidence=evidence)
        return
    if name == "model_config" and not isinstance(document, dict):
        ctx.report(MALFORMED_CONFIG, f"{source} is not a JSON object", evidence=evidence)
        return
    scan_keras_config(document, ctx, source=source)
