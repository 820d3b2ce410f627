"""Globals and calls: each technique gives exact rules, severities, resolved names and locations."""

from __future__ import annotations

import pickle

import pytest

from mlvet.config import Settings
from mlvet.findings import Location, Severity
from tests.unit.scan.pickle.harness import SYSTEM, call, global_op, proto4, scan_bytes, stack_global, text


def test_stack_global_call_is_critical_with_location_and_evidence() -> None:
    finding = scan_bytes(SYSTEM).only("MLV101")
    assert finding.severity is Severity.CRITICAL
    assert finding.location == Location(offset=26, opcode_index=7)
    assert finding.message == "calls posix.system with ('true',) (via STACK_GLOBAL at opcode 3)"
    assert finding.evidence["module"] == "posix"
    assert finding.evidence["name"] == "system"
    assert finding.evidence["args"] == "('true',)"
    assert finding.evidence["call_opcode"] == "REDUCE"


def test_protocol0_global_with_py2_alias_resolves_to_builtins() -> None:
    data = global_op("__builtin__", "eval") + b"(S'1+1'\ntR."
    finding = scan_bytes(data).only("MLV101")
    assert finding.message.startswith("calls builtins.eval with ('1+1',) (via GLOBAL at opcode 0)")
    assert "alias" in finding.evidence["resolved_via"]
    assert finding.evidence["written_as"] == "__builtin__ eval"


def test_inst_calls_its_class() -> None:
    finding = scan_bytes(b"(S'print(1)'\nibuiltins\nexec\n.").only("MLV101")
    assert finding.location == Location(offset=13, opcode_index=2)
    assert "via INST at opcode 2" in finding.message


@pytest.mark.parametrize(
    ("body", "opcode"),
    [
        (b"(" + stack_global("subprocess", "Popen") + text("true") + b"o", "OBJ"),
        (stack_global("subprocess", "Popen") + b"(" + text("true") + b"t\x81", "NEWOBJ"),
        (stack_global("subprocess", "Popen") + b"(" + text("true") + b"t}\x92", "NEWOBJ_EX"),
    ],
)
def test_object_construction_opcodes_are_calls(body: bytes, opcode: str) -> None:
    finding = scan_bytes(proto4(body + b"0N")).only("MLV101")
    assert finding.evidence["call_opcode"] == opcode
    assert "subprocess.Popen" in finding.message


def test_names_fetched_from_the_memo() -> None:
    body = (
        text("posix")
        + b"\x94"
        + text("system")
        + b"\x94"
        + b"0" * 2
        + b"h\x00h\x01\x93"
        + b"("
        + text("x")
        + b"tR"
    )
    finding = scan_bytes(proto4(body)).only("MLV101")
    assert "memo" in finding.evidence["resolved_via"]


def test_legacy_string_operands_in_protocol4() -> None:
    data = b"\x80\x04U\x05posixT\x06\x00\x00\x00system\x93S'true'\n\x85R."
    finding = scan_bytes(data).only("MLV101")
    assert "legacy-string-opcodes" in finding.evidence["resolved_via"]
    assert finding.evidence["args"] == "('true',)"


def test_missing_memo_slot_is_unresolvable_not_a_crash() -> None:
    outcome = scan_bytes(b"\x80\x04h\x07h\x08\x93(" + text("x") + b"tR.")
    assert outcome.only("MLV106").severity is Severity.HIGH
    assert "missing memo slot 7" in outcome.only("MLV106").message
    assert not outcome.problems


def test_non_string_stack_global_operand() -> None:
    outcome = scan_bytes(proto4(b"K\x05" + text("system") + b"\x93(" + text("x") + b"tR"))
    assert "module 5, name 'system'" in outcome.only("MLV106").message


def test_dotted_name_through_module_attribute() -> None:
    outcome = scan_bytes(proto4(call(stack_global("pathlib", "os.system"), text("true"))))
    assert outcome.only("MLV101").evidence["module"] == "os"
    assert outcome.only("MLV101").evidence["name"] == "system"
    traversal = outcome.only("MLV110")
    assert traversal.severity is Severity.HIGH
    assert traversal.evidence["traversal"] == "module attribute os"


def test_dunder_traversal_is_suspicious_on_its_own() -> None:
    outcome = scan_bytes(proto4(stack_global("collections", "OrderedDict.__init__.__globals__") + b"0N"))
    assert outcome.rules(Severity.HIGH) == {"MLV110"}
    assert outcome.only("MLV104").severity is Severity.MEDIUM


def test_submodule_of_denylisted_package() -> None:
    body = call(stack_global("asyncio.unix_events", "_UnixSubprocessTransport._start"), b"N")
    assert (
        "asyncio.unix_events._UnixSubprocessTransport._start"
        in scan_bytes(proto4(body)).only("MLV101").message
    )


def test_call_is_attributed_to_the_global_that_produced_the_callable() -> None:
    getter = call(stack_global("_operator", "methodcaller"), text("system"), text("true"))
    module = call(stack_global("builtins", "__import__"), text("os"))
    outcome = scan_bytes(proto4(getter + b"(" + module + b"tR"))
    messages = sorted(f.message for f in outcome.findings if f.rule.id == "MLV101")
    assert any(m.startswith("calls the object returned by _operator.methodcaller") for m in messages)
    assert any(m.startswith("calls builtins.__import__") for m in messages)


def test_referenced_only_dangerous_global_is_high() -> None:
    outcome = scan_bytes(proto4(stack_global("posix", "system") + b"0N"))
    finding = outcome.only("MLV102")
    assert finding.severity is Severity.HIGH
    assert finding.location == Location(offset=17, opcode_index=3)


def test_unknown_global_called_is_high_and_referenced_is_medium() -> None:
    called = scan_bytes(proto4(call(stack_global("acme_utils.helpers", "run_hook"), text("x"))))
    assert called.only("MLV103").severity is Severity.HIGH
    referenced = scan_bytes(proto4(stack_global("acme_utils.helpers", "Config") + b"0N"))
    assert referenced.only("MLV104").severity is Severity.MEDIUM
    assert referenced.rules(Severity.HIGH) == set()


def test_user_allowlist_extends_the_allowlist_but_never_the_denylist() -> None:
    settings = Settings(allow_globals=frozenset({"acme_utils.helpers.run_hook", "posix.system"}))
    trusted = scan_bytes(proto4(call(stack_global("acme_utils.helpers", "run_hook"), text("x"))), settings)
    assert trusted.findings == []
    assert scan_bytes(SYSTEM, settings).only("MLV101").severity is Severity.CRITICAL


def test_extension_opcodes() -> None:
    outcome = scan_bytes(b"\x80\x02\x82\x07(S'x'\ntR.")
    finding = outcome.only("MLV107")
    assert finding.location == Location(offset=2, opcode_index=1)
    assert finding.evidence["extension_code"] == 7
    assert outcome.rules() == {"MLV107"}


def test_obj_result_discarded_by_pop_is_still_a_call() -> None:
    assert "MLV101" in scan_bytes(b"(cposix\nsystem\nS'true'\no0N.").rules()


def test_setstate_injection_through_build() -> None:
    obj = call(stack_global("argparse", "Namespace"))
    inject = b"N}" + text("__setstate__") + stack_global("posix", "system") + b"s\x86b"
    finding = scan_bytes(proto4(obj + inject + text("true") + b"b")).only("MLV101")
    assert "installed as __setstate__ by BUILD" in finding.message


def test_copyreg_reconstructor_checks_the_class_it_instantiates() -> None:
    data = b"ccopy_reg\n_reconstructor\n(cacme\nWidget\nc__builtin__\nobject\nNtR."
    outcome = scan_bytes(data)
    assert "acme.Widget" in outcome.only("MLV103").message
    assert "instantiated by copyreg._reconstructor" in outcome.only("MLV103").message


def test_numpy1_ufunc_reconstruct_is_accepted_only_for_allowlisted_names() -> None:
    benign = b"\x80\x02cnumpy.core\n_ufunc_reconstruct\nX\x05\x00\x00\x00numpyX\x05\x00\x00\x00log1p\x86R."
    assert scan_bytes(benign).rules(Severity.HIGH) == set()
    hostile = benign.replace(
        b"X\x05\x00\x00\x00numpyX\x05\x00\x00\x00log1p", b"X\x02\x00\x00\x00osX\x06\x00\x00\x00system"
    )
    assert scan_bytes(hostile).only("MLV103").severity is Severity.HIGH


@pytest.mark.parametrize("protocol", range(6))
def test_plain_data_is_clean_at_every_protocol(protocol: int) -> None:
    data = {"a": [1, 2.5, "x", b"y", None, True], "s": {1}, "f": frozenset({2}), "c": 1j, "big": 2**80}
    assert scan_bytes(pickle.dumps(data, protocol=protocol)).findings == []


def test_build_arming_append_is_a_call() -> None:
    obj = call(stack_global("argparse", "Namespace"))
    inject = b"}" + text("append") + stack_global("posix", "system") + b"sb"
    finding = scan_bytes(proto4(obj + inject + text("true") + b"a")).only("MLV101")
    assert "installed as append by BUILD" in finding.message
