"""Jinja2 chat templates: sandbox-escape gadgets found by parsing, never rendering."""

from __future__ import annotations

from mlvet.scan.templates.analysis import RULES, analyse_template, scan_template_text

__all__ = ["RULES", "analyse_template", "scan_template_text"]
