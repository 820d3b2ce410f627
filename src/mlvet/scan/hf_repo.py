"""Hugging Face repository configuration: custom code (``auto_map``, custom pipelines, sentence-transformers
modules) and chat templates in tokenizer and processor configs, recognised by content, not by file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlvet.findings import Location, Rule, Severity
from mlvet.scan import templates
from mlvet.scan.base import ScanContext

CUSTOM_CODE = Rule(
    "MLV801",
    "Model requires custom code (trust_remote_code)",
    Severity.MEDIUM,
    "The configuration maps Auto classes or pipelines to Python modules shipped with the model. Loading it "
    "with trust_remote_code=True imports and runs those modules with your privileges. Read the named "
    "files (mlvet scans them when they are present) and pin the revision you reviewed.",
    ("https://huggingface.co/docs/transformers/custom_models",),
)
REMOTE_REPO_CODE = Rule(
    "MLV802",
    "Custom code fetched from another repository",
    Severity.HIGH,
    "An auto_map entry of the form owner/repo--module.Class makes transformers download and run code from "
    "a different repository than the one you are loading, which was not scanned and can change at any "
    "time. Scan that repository too, or vendor the code.",
    ("https://huggingface.co/docs/transformers/custom_models",),
)
MISSING_CUSTOM_CODE = Rule(
    "MLV803",
    "Referenced custom code file is missing",
    Severity.MEDIUM,
    "The configuration names a module file that is not beside it, so mlvet could not scan the code that "
    "would run; transformers would fetch it from the Hub at load time. Obtain the file and scan it.",
)

RULES: tuple[Rule, ...] = (CUSTOM_CODE, REMOTE_REPO_CODE, MISSING_CUSTOM_CODE)

_MODULE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_SENTENCE_TRANSFORMERS = "sentence_transformers."


@dataclass
class _ModuleUse:
    """Every place one module file is referenced from."""

    pointers: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)


def scan_hf_json(document: Any, ctx: ScanContext) -> None:
    """Analyse a parsed JSON document if it is a Hugging Face config; return quietly otherwise."""
    if isinstance(document, list):
        _sentence_transformer_modules(document, ctx)
        return
    if not isinstance(document, dict):
        return
    local: dict[str, _ModuleUse] = {}
    remote: dict[str, _ModuleUse] = {}
    auto_map = document.get("auto_map")
    if isinstance(auto_map, dict):
        for auto_class, value in auto_map.items():
            references = value if isinstance(value, list) else [value]
            for index, reference in enumerate(references):
                pointer = f"/auto_map/{_escape(str(auto_class))}" + (
                    f"/{index}" if isinstance(value, list) else ""
                )
                _classify(reference, pointer, str(auto_class), local, remote)
    pipelines = document.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in pipelines.items():
            if isinstance(spec, dict) and "impl" in spec:
                pointer = f"/custom_pipelines/{_escape(str(task))}/impl"
                _classify(spec["impl"], pointer, f"pipeline {task}", local, remote)
    for module, use in local.items():
        _report_local(module, use, ctx)
    for repository, use in remote.items():
        ctx.report(
            REMOTE_REPO_CODE,
            f"custom code is fetched from another repository, {repository} ({', '.join(use.classes[:4])}); "
            "it was not scanned",
            location=Location(pointer=use.pointers[0]),
            evidence={"repository": repository, "classes": use.classes, "pointers": use.pointers},
        )
    _chat_templates(document, ctx)


def _classify(
    reference: Any, pointer: str, user: str, local: dict[str, _ModuleUse], remote: dict[str, _ModuleUse]
) -> None:
    """Sort one ``module.Class`` or ``owner/repo--module.Class`` reference into local or remote code."""
    if not isinstance(reference, str) or not reference:
        return
    repository, separator, local_reference = reference.partition("--")
    target = remote.setdefault(repository, _ModuleUse()) if separator else None
    module, _, class_name = (local_reference if separator else reference).rpartition(".")
    use = target or local.setdefault(module, _ModuleUse())
    use.pointers.append(pointer)
    use.classes.append(f"{user} -> {module}.{class_name}" if separator else f"{user} -> {class_name}")


def _report_local(module: str, use: _ModuleUse, ctx: ScanContext) -> None:
    valid = bool(_MODULE_PATH.fullmatch(module))
    filename = module.replace(".", "/") + ".py" if valid else module
    ctx.report(
        CUSTOM_CODE,
        f"custom code runs with trust_remote_code: {filename} ({', '.join(use.classes[:4])})"
        + ("" if valid else "; the module name is not a Python module path (path traversal?)"),
        location=Location(pointer=use.pointers[0]),
        evidence={"module_file": filename, "classes": use.classes, "pointers": use.pointers},
        severity=None if valid else Severity.HIGH,
    )
    if valid and ctx.fs_path is not None and ctx.subject.member is None:
        beside = ctx.fs_path.parent / filename
        if not beside.is_file():
            ctx.report(
                MISSING_CUSTOM_CODE,
                f"{filename} is referenced but not present beside the config; it would be downloaded "
                "unscanned at load time",
                location=Location(pointer=use.pointers[0]),
                evidence={"module_file": filename, "expected_at": str(beside)},
            )


def _sentence_transformer_modules(document: list[Any], ctx: ScanContext) -> None:
    """sentence-transformers' modules.json: each module's class is imported by its dotted name."""
    if not document or not all(isinstance(e, dict) and "type" in e and "path" in e for e in document):
        return
    for index, entry in enumerate(document):
        kind = entry["type"]
        if isinstance(kind, str) and not kind.startswith(_SENTENCE_TRANSFORMERS):
            ctx.report(
                CUSTOM_CODE,
                f"sentence-transformers module {index} imports {kind!r}, which is not part of the library",
                location=Location(pointer=f"/{index}/type"),
                evidence={"type": kind, "path": entry.get("path")},
            )


def _chat_templates(document: dict[str, Any], ctx: ScanContext) -> None:
    """``chat_template`` as one string, a list of ``{name, template}``, or a name-to-template map."""
    value = document.get("chat_template")
    if isinstance(value, str):
        _template(value, "/chat_template", "chat_template", ctx)
    elif isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, dict) and isinstance(entry.get("template"), str):
                name = entry.get("name", index)
                _template(
                    entry["template"], f"/chat_template/{index}/template", f"chat_template {name!r}", ctx
                )
    elif isinstance(value, dict):
        for name, template in value.items():
            if isinstance(template, str):
                _template(template, f"/chat_template/{_escape(str(name))}", f"chat_template {name!r}", ctx)


def _template(source: str, pointer: str, where: str, ctx: ScanContext) -> None:
    templates.analyse_template(source, ctx, where=where, location=Location(pointer=pointer))


def _escape(token: str) -> str:
    """A JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")
