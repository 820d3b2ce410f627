"""Keras model configs: the JSON that ``.keras`` archives, ``.h5`` files and SavedModels carry.

Keras rebuilds a model by importing the ``module`` and calling the ``class_name`` each object in
the config names, and by unmarshalling the bytecode of ``Lambda`` layers. The whole JSON tree is
walked, so a layer nested in a sub-model, a wrapper or a loss config is seen like a top-level one.

Keras' own namespace is ``keras`` (and its ``keras.src`` internals), ``keras_hub``, ``keras_nlp``
and ``keras_cv`` (the packages Keras 3 itself agrees to import while deserializing), ``tf_keras``
(the Keras 2 package) and ``tensorflow.keras`` / ``tensorflow.python.keras`` (Keras 2 inside
TensorFlow). Objects from anywhere else are reported, since Keras before 3.9 imported any module a
config named (CVE-2025-1550).
"""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Iterator
from typing import Any

from mlvet.findings import Location, Rule, Severity
from mlvet.scan.base import ScanContext
from mlvet.scan.keras.lambda_payload import LambdaPayload, decode_lambda

LAMBDA_LAYER = Rule(
    "MLV301",
    "Keras Lambda layer or serialized lambda",
    Severity.HIGH,
    "The config holds a Python function that Keras rebuilds from marshalled bytecode (or looks up "
    "by name) when the model is loaded with safe_mode=False or by Keras before 2.13. Any code can "
    "hide there. Evidence lists the names and constants read from the bytecode without running it; "
    "load such a model only if you trust its author, or rewrite the layer as a registered class.",
    ("CVE-2024-3660",),
)
FOREIGN_MODULE = Rule(
    "MLV302",
    "Keras object from a module outside Keras",
    Severity.HIGH,
    "A config object names a module outside Keras' own packages. Keras before 3.9 imports that "
    "module and calls the named attribute with arguments from the file, so a config naming "
    "os.system or subprocess runs commands (critical); an unknown package is imported and run. "
    "Expect this only for custom layers from a package you install and trust.",
    ("CVE-2025-1550", "https://blog.huntr.com/inside-cve-2025-1550-remote-code-execution-via-keras-models"),
)
KERAS_GADGET = Rule(
    "MLV303",
    "Keras utility used as a gadget",
    Severity.CRITICAL,
    "A config object names a Keras function that is not a model building block, such as "
    "keras.utils.get_file (downloads and writes files) or keras.models.load_model (loads another, "
    "possibly unsafe, model). Loading the config calls it with arguments chosen by the file's "
    "author. No legitimate model does this; do not load the file.",
    ("CVE-2025-8747",),
)
UNSAFE_SWITCH = Rule(
    "MLV304",
    "Keras safe mode disabled or pickled module embedded",
    Severity.HIGH,
    "The config refers to keras.config.enable_unsafe_deserialization, which turns safe mode off in "
    "the middle of loading so that later lambdas run, or holds a TorchModuleWrapper, whose layer "
    "is a torch.save pickle loaded with torch.load (the embedded pickle is scanned too). Load the "
    "file only if you trust its author.",
    ("CVE-2025-9906", "CVE-2025-49655"),
)
MALFORMED_CONFIG = Rule(
    "MLV305",
    "Keras config unreadable",
    Severity.MEDIUM,
    "A Keras model config is stored in the file but is not valid JSON (or not a JSON object), so it "
    "could not be checked for code. Keras would refuse it too, but a different loader might not; "
    "treat the file as unverified.",
)

RULES = (LAMBDA_LAYER, FOREIGN_MODULE, KERAS_GADGET, UNSAFE_SWITCH, MALFORMED_CONFIG)

KERAS_PACKAGES = frozenset({"keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras"})
KERAS_MODULE_PREFIXES = ("tensorflow.keras", "tensorflow.python.keras")

DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "shutil", "socket",
        "ssl", "http", "urllib", "urllib2", "urllib3", "requests", "httpx", "aiohttp", "ftplib",
        "smtplib", "telnetlib", "webbrowser", "runpy", "pty", "pickle", "_pickle", "cPickle", "dill",
        "cloudpickle", "joblib", "marshal", "shelve", "importlib", "imp", "pkgutil", "zipimport",
        "ctypes", "cffi", "code", "codeop", "pdb", "bdb", "trace", "timeit", "profile", "cProfile",
        "asyncio", "multiprocessing", "concurrent", "threading", "signal", "pathlib", "io", "_io",
        "tempfile", "glob", "fileinput", "commands", "popen2", "platform", "types", "operator",
        "functools", "inspect", "gc",
    }
)  # fmt: skip
"""Module roots that give process, file, network or code-loading access: critical when named."""

GADGETS = frozenset(
    {
        "get_file", "load_model", "model_from_json", "model_from_yaml", "model_from_config",
        "save_model", "load_weights", "save_weights", "load_img", "save_img",
        "image_dataset_from_directory", "text_dataset_from_directory",
        "audio_dataset_from_directory", "deserialize_keras_object", "register_keras_serializable",
        "load_from_saved_model", "export_saved_model",
    }
)  # fmt: skip
"""Keras functions that touch files or load other artifacts (Keras' own NON_MODELING_APIS, widened)."""

UNSAFE_SWITCH_NAME = "enable_unsafe_deserialization"
_PYTHON_BUILTINS = frozenset(dir(builtins))
_SPECIAL_CLASSES = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__tuple__"}
)

JsonPath = tuple[str | int, ...]
"""Keys and indices from the document root to a value."""


def looks_like_keras_config(document: object) -> bool:
    """True for a Keras model/layer config: an object with ``class_name`` and ``config`` at the top."""
    return (
        isinstance(document, dict)
        and isinstance(document.get("class_name"), str)
        and ("config" in document or "module" in document)
    )


def scan_keras_config(
    document: object,
    ctx: ScanContext,
    *,
    source: str | None = None,
    seen: set[tuple[str, str]] | None = None,
) -> None:
    """Report code-carrying objects anywhere in a Keras config.

    ``source`` names where the JSON came from (an HDF5 attribute, a SavedModel node) in messages.
    ``seen`` collects what was reported so that several configs describing the same model (the
    nodes of a ``keras_metadata.pb``) report each payload once.
    """
    _ConfigAnalysis(ctx, source, seen).run(document)


def json_pointer(path: JsonPath) -> str:
    """RFC 6901 pointer for a path of keys and indices."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class _ConfigAnalysis:
    def __init__(self, ctx: ScanContext, source: str | None, seen: set[tuple[str, str]] | None) -> None:
        self.ctx = ctx
        self.source = source
        self.by_content = seen is not None
        self.seen: set[tuple[str, str]] = seen if seen is not None else set()
        self.lambda_payloads: set[JsonPath] = set()

    def run(self, document: object) -> None:
        for node, path in _walk(document):
            if isinstance(node, dict):
                self._inspect_object(node, path)
                for key in node:
                    if isinstance(key, str) and UNSAFE_SWITCH_NAME in key:
                        self._report_switch(key, path)
            elif isinstance(node, str) and UNSAFE_SWITCH_NAME in node:
                self._report_switch(node, path)

    def _inspect_object(self, node: dict[str, Any], path: JsonPath) -> None:
        class_name = node.get("class_name")
        if not isinstance(class_name, str):
            return
        inner = node.get("config")
        if class_name == "Lambda" and isinstance(inner, dict):
            self._inspect_lambda_layer(inner, path)
        elif class_name == "__lambda__" and path not in self.lambda_payloads:
            text = _lambda_text(node)
            payload = decode_lambda(text) if text is not None else None
            self._report_lambda("a serialized Python lambda", path, payload, {})
        elif class_name == "TorchModuleWrapper":
            self._inspect_torch_wrapper(node, path)
        module = node.get("module")
        if not isinstance(module, str) or not module or class_name in _SPECIAL_CLASSES:
            return
        if class_name == "__typespec__" and module.startswith("tensorflow."):
            return  # a tf.TypeSpec of a TensorFlow-backed model, resolved among registered specs
        names = [class_name]
        if class_name == "function" and isinstance(inner, str):
            names = [inner]
        registered = node.get("registered_name")
        if isinstance(registered, str) and registered not in names:
            names.append(registered)
        self._inspect_module(module, names, class_name == "function", path)

    def _inspect_lambda_layer(self, inner: dict[str, Any], path: JsonPath) -> None:
        layer = inner.get("name")
        what = f"Lambda layer {layer!r}" if isinstance(layer, str) else "a Lambda layer"
        for key, type_key in (("function", "function_type"), ("output_shape", "output_shape_type")):
            if key not in inner or inner[key] is None:
                continue
            value, kind = inner[key], inner.get(type_key)
            if key == "output_shape" and kind != "lambda" and not _is_lambda_object(value):
                continue
            slot = (*path, "config", key)
            label = what if key == "function" else f"the output_shape function of {what}"
            text = _lambda_text(value) if kind != "function" else None
            if isinstance(value, dict) and value.get("class_name") == "__lambda__":
                self.lambda_payloads.add(slot)
            if text is not None:
                self._report_lambda(label, slot, decode_lambda(text), {})
                continue
            named = _named_function(value)
            module = inner.get("module") if key == "function" else inner.get("output_shape_module")
            detail = {"function": named} if named else {}
            if isinstance(module, str) and module and not isinstance(value, dict):
                detail["module"] = module
                if named and module != "__main__":
                    self._inspect_module(module, [named], True, slot)
            self._report_lambda(label, slot, None, detail)

    def _report_lambda(
        self, label: str, path: JsonPath, payload: LambdaPayload | None, detail: dict[str, Any]
    ) -> None:
        evidence: dict[str, Any] = dict(detail)
        if payload is not None:
            evidence.update(payload.evidence())
        key = payload.sha256 if payload is not None and payload.sha256 and self.by_content else None
        if not self._first("MLV301", key or json_pointer(path)):
            return
        if payload is not None and payload.kind == "marshal-code":
            what = f"{label} carries {payload.size} bytes of marshalled Python bytecode"
        elif payload is not None:
            what = f"{label} carries a {payload.kind} payload of {payload.size} bytes"
        elif detail.get("function"):
            what = f"{label} calls the Python function {detail['function']!r}"
        else:
            what = f"{label} holds a Python function"
        severity = None
        if payload is not None and payload.suspicious:
            what += f" using {', '.join(payload.suspicious)}"
            severity = Severity.CRITICAL
        self._report(LAMBDA_LAYER, what, path, evidence, severity)

    def _inspect_torch_wrapper(self, node: dict[str, Any], path: JsonPath) -> None:
        inner = node.get("config")
        blob = inner.get("module") if isinstance(inner, dict) else None
        evidence: dict[str, Any] = {}
        if isinstance(blob, str):
            evidence["embedded_bytes"] = len(blob) * 3 // 4
        if self._first("MLV304", json_pointer(path)):
            self._report(
                UNSAFE_SWITCH,
                "TorchModuleWrapper embeds a torch.save pickle that Keras loads with torch.load",
                path,
                evidence,
            )
        limit = self.ctx.settings.limits.max_member_bytes
        if not isinstance(blob, str) or not blob or len(blob) * 3 // 4 > limit:
            return
        try:
            data = base64.b64decode(blob.encode("ascii"), validate=False)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return
        if data and self.ctx.charge_decompressed(len(data)):
            self.ctx.scan_member(data, f"{json_pointer((*path, 'config', 'module'))} (base64)")

    def _inspect_module(self, module: str, names: list[str], is_function: bool, path: JsonPath) -> None:
        root = module.split(".", 1)[0]
        target = names[0] if names else ""
        if root in KERAS_PACKAGES or module.startswith(KERAS_MODULE_PREFIXES):
            gadgets = [name for name in names if name in GADGETS]
            if gadgets and self._first("MLV303", f"{module}.{gadgets[0]}|{json_pointer(path)}"):
                self._report(
                    KERAS_GADGET,
                    f"config calls {module}.{gadgets[0]}, a Keras utility that is no model component",
                    path,
                    {"module": module, "name": gadgets[0]},
                )
            return
        if module == "__main__":
            return  # the loading program's own script: Keras takes such objects from custom_objects
        if root in {"builtins", "__builtin__"} and is_function and target not in _PYTHON_BUILTINS:
            return  # Keras resolves such names among its own activations, losses and metrics.
        dangerous = root in DANGEROUS_MODULES
        if not dangerous and f"{module}.{target}" in self.ctx.settings.allow_globals:
            return  # the user vouched for this custom object (allow-globals)
        if not self._first("MLV302", f"{module}.{target}|{json_pointer(path)}"):
            return
        reason = "a module with process, file or network access" if dangerous else "a module outside Keras"
        self._report(
            FOREIGN_MODULE,
            f"config imports {module[:200]}.{target[:200]} ({reason})",
            path,
            {"module": module[:500], "name": target[:500]},
            Severity.CRITICAL if dangerous else None,
        )

    def _report_switch(self, text: str, path: JsonPath) -> None:
        if self._first("MLV304", f"switch|{json_pointer(path)}"):
            self._report(
                UNSAFE_SWITCH,
                "config refers to keras.config.enable_unsafe_deserialization, switching safe mode off",
                path,
                {"text": text[:200]},
            )

    def _first(self, rule_id: str, key: str) -> bool:
        if (rule_id, key) in self.seen:
            return False
        self.seen.add((rule_id, key))
        return True

    def _report(
        self,
        rule: Rule,
        message: str,
        path: JsonPath,
        evidence: dict[str, Any],
        severity: Severity | None = None,
    ) -> None:
        if self.source:
            message = f"{message} (in {self.source})"
            evidence = {**evidence, "source": self.source}
        pointer = json_pointer(path) or "/"
        self.ctx.report(
            rule, message, location=Location(pointer=pointer), evidence=evidence, severity=severity
        )


def _walk(document: object) -> Iterator[tuple[object, JsonPath]]:
    """Every value in a JSON tree with its path, in document order, without recursion."""
    stack: list[tuple[object, JsonPath]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        yield node, path
        if isinstance(node, dict):
            stack.extend((value, (*path, str(key))) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, (*path, index)) for index, value in reversed(list(enumerate(node))))


def _is_lambda_object(value: object) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__lambda__"


def _lambda_text(value: object) -> str | None:
    """The base64 bytecode of a serialized lambda, in any of the shapes Keras 2 and 3 write."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return value[0] if value and isinstance(value[0], str) else None
    if not isinstance(value, dict):
        return None
    if value.get("class_name") == "__tuple__":
        return _lambda_text(value.get("items"))
    inner = value.get("config")
    if value.get("class_name") != "__lambda__" or not isinstance(inner, dict):
        return None
    if isinstance(inner.get("code"), str):
        return str(inner["code"])
    return _lambda_text(inner.get("value"))


def _named_function(value: object) -> str | None:
    """The function name of a Lambda that refers to a function instead of carrying one."""
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, dict) and value.get("class_name") == "function":
        name = value.get("config")
        return name[:200] if isinstance(name, str) else None
    return None
