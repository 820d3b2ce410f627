"""JSON documents that configure code: Keras configs, Hugging Face configs and tokenizer configs.

The document's content decides which analysis applies, never the file's name.
"""

from __future__ import annotations

import json

from mlvet.artifacts import Buffer
from mlvet.findings import ProblemKind
from mlvet.scan import hf_repo, keras
from mlvet.scan.base import ScanContext

MAX_JSON_BYTES = 256 << 20


def scan_json(data: Buffer, ctx: ScanContext) -> None:
    """Parse the document once and run every analysis whose shape it matches."""
    if len(data) > MAX_JSON_BYTES:
        ctx.problem(ProblemKind.LIMIT, f"JSON document larger than {MAX_JSON_BYTES} bytes not parsed")
        return
    try:
        document = json.loads(bytes(data))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        ctx.problem(ProblemKind.CORRUPT, f"invalid JSON: {exc}")
        return
    if keras.looks_like_keras_config(document):
        keras.scan_keras_config(document, ctx)
    hf_repo.scan_hf_json(document, ctx)
