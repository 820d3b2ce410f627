"""Shared helpers: scanning ONNX bytes through the real ``mlvet scan`` dispatch."""

from __future__ import annotations

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Problem, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext


def scan_onnx_bytes(data: bytes) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    ctx = ScanContext(Subject("model.onnx"), Settings(), collector, dispatch)
    dispatch(data, ctx, Format.ONNX)
    return collector.findings, collector.problems
