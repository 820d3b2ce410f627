"""Keras config analysis: Lambda payloads at any depth, foreign modules, gadgets, unsafe switches."""

from __future__ import annotations

import base64
import marshal
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlvet.config import Settings
from mlvet.findings import Finding, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.keras.config import RULES, json_pointer, looks_like_keras_config, scan_keras_config
from mlvet.scan.keras.lambda_payload import decode_lambda, marshal_strings

_MARSHAL_LOADS: list[str] = []


def _record_marshal_loads(event: str, _args: tuple[Any, ...]) -> None:
    """Unmarshalling builds code objects: the lambda decoder must never do it."""
    if event == "marshal.loads":
        _MARSHAL_LOADS.append(event)


sys.addaudithook(_record_marshal_loads)


def code_text(source: str = "lambda x: x") -> str:
    code = compile(source, "<mlvet-test>", "eval").co_consts[0]
    return base64.encodebytes(marshal.dumps(code)).decode("ascii")


def keras3_lambda(name: str = "lam", source: str = "lambda x: x") -> dict[str, Any]:
    function = {
        "class_name": "__lambda__",
        "config": {"code": code_text(source), "defaults": None, "closure": None},
    }
    return {"module": "keras.layers", "class_name": "Lambda", "config": {"name": name, "function": function}}


def dense(name: str = "d") -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": 2},
        "registered_name": None,
    }


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": list(layers)}}


def analyse(
    document: object, settings: Settings | None = None, **kwargs: Any
) -> tuple[list[Finding], Collector]:
    collector = Collector()
    ctx = ScanContext(
        Subject("model.keras", member="config.json"), settings or Settings(), collector, dispatch
    )
    scan_keras_config(document, ctx, **kwargs)
    return collector.findings, collector


def ids(findings: list[Finding]) -> list[str]:
    return [f.rule.id for f in findings]


def test_rules_are_in_the_keras_range() -> None:
    assert [rule.id for rule in RULES] == ["MLV301", "MLV302", "MLV303", "MLV304", "MLV305"]


def test_recognises_keras_configs_only() -> None:
    assert looks_like_keras_config(sequential(dense()))
    assert looks_like_keras_config({"class_name": "Sequential", "config": {"layers": []}})
    assert not looks_like_keras_config({"keras_version": "3.8.0", "date_saved": "2025"})
    assert not looks_like_keras_config({"architectures": ["BertModel"], "model_type": "bert"})
    assert not looks_like_keras_config([sequential()])
    assert not looks_like_keras_config("Sequential")


def test_top_level_lambda_reports_decoded_bytecode() -> None:
    document = sequential(dense(), keras3_lambda("scale"))
    _MARSHAL_LOADS.clear()  # imports unmarshal .pyc files; only the analysis itself is watched
    findings, _ = analyse(document)
    (finding,) = findings
    assert finding.rule.id == "MLV301"
    assert finding.severity == Severity.HIGH
    assert finding.location.pointer == "/config/layers/1/config/function"
    assert "Lambda layer 'scale' carries" in finding.message
    assert finding.evidence["payload"] == "marshal-code"
    assert "<lambda>" in finding.evidence["strings"]
    assert "<mlvet-test>" in finding.evidence["strings"]
    assert _MARSHAL_LOADS == []


def test_lambda_using_process_names_is_critical() -> None:
    findings, _ = analyse(sequential(keras3_lambda(source="lambda x: __import__('os').system('true') or x")))
    (finding,) = findings
    assert finding.severity == Severity.CRITICAL
    assert {"__import__", "os", "system"} <= set(finding.evidence["suspicious_names"])


def test_lambda_nested_in_wrappers_and_sub_models() -> None:
    wrapped = {
        "module": "keras.layers",
        "class_name": "Bidirectional",
        "config": {"layer": keras3_lambda("deep")},
    }
    inner = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {"layers": [wrapped]},
    }
    findings, _ = analyse(sequential(dense(), sequential(inner)))
    assert ids(findings) == ["MLV301"]
    assert (
        findings[0].location.pointer
        == "/config/layers/1/config/layers/0/config/layers/0/config/layer/config/function"
    )


def test_keras2_lambda_shapes() -> None:
    as_list = {
        "class_name": "Lambda",
        "config": {"name": "a", "function": [code_text(), None, None], "function_type": "lambda"},
    }
    as_tuple = {
        "class_name": "Lambda",
        "config": {"name": "b", "function": {"class_name": "__tuple__", "items": [code_text(), None, None]}},
    }
    with_shape = {
        "class_name": "Lambda",
        "config": {
            "name": "c",
            "function": [code_text(), None, None],
            "function_type": "lambda",
            "output_shape": [code_text("lambda s: s"), None, None],
            "output_shape_type": "lambda",
        },
    }
    findings, _ = analyse({"class_name": "Sequential", "config": {"layers": [as_list, as_tuple, with_shape]}})
    assert [f.location.pointer for f in findings] == [
        "/config/layers/0/config/function",
        "/config/layers/1/config/function",
        "/config/layers/2/config/function",
        "/config/layers/2/config/output_shape",
    ]
    assert all(f.evidence["payload"] == "marshal-code" for f in findings)


def test_lambda_naming_a_function_in_a_dangerous_module() -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"name": "n", "function": "system", "function_type": "function", "module": "os"},
    }
    findings, _ = analyse({"class_name": "Sequential", "config": {"layers": [layer]}})
    assert sorted((f.rule.id, f.severity) for f in findings) == [
        ("MLV301", Severity.HIGH),
        ("MLV302", Severity.CRITICAL),
    ]
    lambda_finding = next(f for f in findings if f.rule.id == "MLV301")
    assert lambda_finding.evidence == {"function": "system", "module": "os"}


def test_serialized_lambda_outside_a_lambda_layer() -> None:
    activation = {"class_name": "__lambda__", "config": {"value": [code_text(), None, None]}}
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {"activation": activation}}
    findings, _ = analyse(sequential(layer))
    assert ids(findings) == ["MLV301"]
    assert findings[0].location.pointer == "/config/layers/0/config/activation"


def test_foreign_modules() -> None:
    cases = {
        ("os", "system"): Severity.CRITICAL,
        ("subprocess.run", "function"): Severity.CRITICAL,
        ("my_company.layers", "Attention"): Severity.HIGH,
    }
    for (module, class_name), severity in cases.items():
        findings, _ = analyse(sequential({"module": module, "class_name": class_name, "config": "x"}))
        assert [(f.rule.id, f.severity) for f in findings] == [("MLV302", severity)], module
        assert findings[0].evidence["module"] == module


def test_allow_globals_vouches_for_a_custom_layer_but_never_a_dangerous_module() -> None:
    trusted = Settings(allow_globals=frozenset({"my_company.layers.Attention", "os.system"}))
    custom = sequential({"module": "my_company.layers", "class_name": "Attention", "config": "x"})
    assert analyse(custom, trusted)[0] == []
    dangerous = sequential({"module": "os", "class_name": "system", "config": "x"})
    assert ids(analyse(dangerous, trusted)[0]) == ["MLV302"]


def test_keras_own_namespaces_are_trusted() -> None:
    modules = [
        "keras",
        "keras.layers",
        "keras.src.models.functional",
        "keras_hub.src.models.bert",
        "keras_nlp.layers",
    ]
    modules += [
        "keras_cv.layers",
        "tf_keras.src.engine",
        "tensorflow.keras.layers",
        "tensorflow.python.keras.layers",
    ]
    layers = [{"module": m, "class_name": "Custom", "config": {}} for m in modules]
    builtin_fn = {
        "module": "builtins",
        "class_name": "function",
        "config": "relu",
        "registered_name": "function",
    }
    spec = {
        "class_name": "__typespec__",
        "spec_name": "TensorSpec",
        "module": "tensorflow.python.framework.tensor",
    }
    main = {"module": "__main__", "class_name": "MyLayer", "config": {}}
    findings, _ = analyse(sequential(*layers, builtin_fn, spec, main))
    assert findings == []


def test_builtins_function_naming_a_python_builtin_is_critical() -> None:
    findings, _ = analyse(sequential({"module": "builtins", "class_name": "function", "config": "exec"}))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV302", Severity.CRITICAL)]


def test_keras_gadgets() -> None:
    get_file = {
        "module": "keras.utils",
        "class_name": "get_file",
        "config": {"origin": "http://127.0.0.1:9/x"},
    }
    load_model = {"module": "keras.models", "class_name": "function", "config": "load_model"}
    internal = {"module": "keras.src.utils.file_utils", "class_name": "function", "config": "get_file"}
    findings, _ = analyse(sequential(get_file, load_model, internal))
    assert [(f.rule.id, f.severity, f.location.pointer) for f in findings] == [
        ("MLV303", Severity.CRITICAL, "/config/layers/0"),
        ("MLV303", Severity.CRITICAL, "/config/layers/1"),
        ("MLV303", Severity.CRITICAL, "/config/layers/2"),
    ]
    assert findings[0].evidence == {"module": "keras.utils", "name": "get_file"}


def test_unsafe_deserialization_switch_anywhere() -> None:
    switch = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"}
    findings, _ = analyse(
        sequential({"module": "keras.layers", "class_name": "Dense", "config": {"activation": switch}})
    )
    assert [(f.rule.id, f.location.pointer) for f in findings] == [
        ("MLV304", "/config/layers/0/config/activation/config")
    ]


def test_torch_module_wrapper_embedded_pickle_is_scanned() -> None:
    blob = base64.b64encode(b"\x80\x02N.").decode("ascii")
    wrapper = {
        "module": "keras.layers",
        "class_name": "TorchModuleWrapper",
        "config": {"name": "t", "module": blob},
    }
    findings, collector = analyse(sequential(wrapper))
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV304", Severity.HIGH)]
    members = [s.member for s in collector.subjects]
    assert "config.json!//config/layers/0/config/module (base64)" in members


def test_source_is_named_in_messages_and_evidence() -> None:
    findings, _ = analyse(sequential(keras3_lambda()), source="HDF5 attribute model_config")
    assert findings[0].message.endswith("(in HDF5 attribute model_config)")
    assert findings[0].evidence["source"] == "HDF5 attribute model_config"


def test_shared_seen_set_reports_one_payload_once() -> None:
    seen: set[tuple[str, str]] = set()
    first, _ = analyse(sequential(keras3_lambda()), seen=seen)
    again, _ = analyse({"class_name": "Lambda", "config": keras3_lambda()["config"]}, seen=seen)
    assert ids(first) == ["MLV301"]
    assert again == []


def test_two_identical_lambdas_in_one_config_are_both_reported() -> None:
    findings, _ = analyse(sequential(keras3_lambda("a"), keras3_lambda("b")))
    assert ids(findings) == ["MLV301", "MLV301"]


def test_json_pointer_escapes() -> None:
    assert json_pointer(("config", "a/b", "c~d", 3)) == "/config/a~1b/c~0d/3"
    assert json_pointer(()) == ""


def test_deep_nesting_needs_no_recursion() -> None:
    document: Any = keras3_lambda()
    for _ in range(20_000):
        document = [document]
    findings, _ = analyse({"class_name": "X", "config": document})
    assert ids(findings) == ["MLV301"]


def test_payload_decoding_edge_cases() -> None:
    assert decode_lambda("%%% not base64 é").kind in {"undecodable", "opaque"}
    opaque = decode_lambda(base64.b64encode(b"just some text, not code").decode())
    assert opaque.kind == "opaque"
    assert opaque.names == ["just some text, not code"]
    assert decode_lambda("x" * (17 << 20)).kind == "undecodable"
    assert marshal_strings(b"") == []
    assert marshal_strings(b"\xfa\x03abc\xda\xff") == ["abc"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from(["Lambda", "__lambda__", "os", "keras.utils", "get_file", "TorchModuleWrapper",
                       "function", "builtins", "exec", "enable_unsafe_deserialization", code_text()]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["class_name", "config", "module", "function", "function_type", "items", "code",
                         "value", "registered_name", "layers", "output_shape", "output_shape_type", "name"]),
        children,
        max_size=5,
    ),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_is_analysed_without_errors(document: object) -> None:
    findings, collector = analyse(document)
    known = {rule.id for rule in RULES}
    assert {f.rule.id for f in findings} <= known
    assert collector.problems == [] or all(p.kind.value != "internal" for p in collector.problems)
