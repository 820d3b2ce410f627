"""Static behaviour analysis of one Python module's syntax tree: every dangerous call or pattern it contains.

Names come from ``python_names`` (imports and aliases resolved, variables' origins traced) and hidden code
from ``python_payloads``; the module is parsed, never imported or run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mlvet.findings import Severity
from mlvet.scan.python.catalog import (
    CREDENTIAL_PATH,
    FILE_ACCESS,
    PATH_METHODS,
    REFERENCED_DANGER,
    SECRET_NAME,
    SENSITIVE_PATH,
    WATCHED_MODULES,
    Behaviour,
    capability,
)
from mlvet.scan.python.names import IMPORT_LIKE, Bindings, constant_str, parse_module
from mlvet.scan.python.payloads import hidden_payload

MAX_NESTING = 3
EVIDENCE_CHARS = 200
_EXEC_LIKE = re.compile(r"builtins\.(exec|eval|compile|execfile)")
_PATH_LOADERS = re.compile(
    r"importlib\.util\.spec_from_file_location|importlib\.machinery\.\w+|runpy\.\w+|imp\.\w+"
)
_ENV_GETTERS = re.compile(r"os\.(getenv|environ\.(get|pop|setdefault))")
_WHOLE_ENV = re.compile(r"os\.environ\.(copy|items|keys|values)|builtins\.(dict|str|repr|list)|json\.dumps?")
_WRITERS = re.compile(r"pathlib\.\w*Path\.(write_text|write_bytes|open|touch|symlink_to|hardlink_to)")
_COPIERS = re.compile(r"shutil\.(copy\w*|move)|os\.(rename|replace|symlink|link)")
_HIDDEN_ORIGINS = frozenset({"decoded", "network", "download"})
_ENVIRON = "os.environ"
_REFERENCE_TAIL = re.compile(
    r"system|popen|exec\w*|spawn\w*|posix_spawnp?|Popen|run|call|check_call|check_output|getoutput"
    r"|getstatusoutput|eval"
)
"""Last names of ``REFERENCED_DANGER`` callables (an alias such as ``from os import system as s`` is
checked through the bindings instead)."""
_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open"})


@dataclass(frozen=True)
class Observation:
    """One dangerous thing the source does, at a line."""

    behaviour: Behaviour
    severity: Severity
    line: int
    message: str
    code: str
    name: str = ""
    traced: bool = False
    """Critical because of hidden data that reaches the call through its own expression or variables
    assigned once (not merely through a variable name that some other line also assigns)."""
    embedded: bool = False
    """The data the call runs or unpickles is a constant of this file, decoded (not a file it reads)."""


class SourceAnalysis:
    """Everything observed in one module; ``depth`` counts payloads decoded from another module."""

    def __init__(self, tree: ast.Module, *, depth: int = 0) -> None:
        self.tree = tree
        self.depth = depth
        self.names = Bindings(tree)
        self.observations: list[Observation] = []
        self._called: set[int] = set()

    def run(self) -> list[Observation]:
        for node in self.names.nodes:
            if isinstance(node, ast.Call):
                self._called.add(id(node.func))
        for node in self.names.nodes:
            if isinstance(node, ast.Call):
                self._call(node)
            elif isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
                self._reference(node)
            elif isinstance(node, ast.Compare):
                self._time_trigger(node)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                if self.names.resolve(node.value) == "os.environ":
                    self._env_read(node, node.slice)
            elif (
                isinstance(node, ast.For | ast.comprehension)
                and self.names.resolve(node.iter) == "os.environ"
            ):
                self._observe(
                    Behaviour.FINGERPRINT, Severity.MEDIUM, node.iter, "reads the whole environment"
                )
        return self.observations

    # -- observations ----------------------------------------------------------------------------------

    def _observe(
        self, behaviour: Behaviour, severity: Severity, node: ast.AST, message: str, name: str = ""
    ) -> None:
        message = message.replace("builtins.", "")
        arguments = [*node.args, *(k.value for k in node.keywords)] if isinstance(node, ast.Call) else []
        critical = severity >= Severity.CRITICAL
        traced = critical and any(self.names.traced_taint(a) & _HIDDEN_ORIGINS for a in arguments)
        embedded = traced and any(hidden_payload(a, self.names) is not None for a in arguments)
        self.observations.append(
            Observation(
                behaviour,
                severity,
                getattr(node, "lineno", 0),
                message,
                _unparse(node),
                name,
                traced,
                embedded,
            )
        )

    def _reference(self, node: ast.Attribute | ast.Name) -> None:
        tail = node.attr if isinstance(node, ast.Attribute) else node.id
        if id(node) in self._called or (
            tail not in self.names.aliases and not _REFERENCE_TAIL.fullmatch(tail)
        ):
            return  # resolving every name is the costly part; only these can end a dangerous callable
        name = self.names.resolve(node)
        if name and REFERENCED_DANGER.fullmatch(name):
            found = capability(name)
            label = found.label if found else "dangerous callable"
            self._observe(
                found.behaviour if found else Behaviour.PROCESS,
                Severity.HIGH,
                node,
                f"refers to {name} ({label})",
                name,
            )

    def _call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg == "trust_remote_code" and _is_true(keyword.value):
                self._observe(
                    Behaviour.REMOTE_CODE,
                    Severity.HIGH,
                    node,
                    "passes trust_remote_code=True: runs another repository's code",
                )
        name = self.names.call_name(node)
        self._credential_access(node, name)
        if name is None:
            return
        if _EXEC_LIKE.fullmatch(name):
            self._exec(node, name)
        elif IMPORT_LIKE.fullmatch(name):
            self._dynamic_import(node, name)
        elif _PATH_LOADERS.fullmatch(name):
            self._path_loader(node, name)
        elif name == "builtins.getattr":
            self._dynamic_getattr(node)
        elif name in ("builtins.open", "io.open", "codecs.open", "os.open") or _WRITERS.fullmatch(name):
            self._file_write(node, name)
        elif _COPIERS.fullmatch(name):
            self._file_copy(node, name)
        elif _ENV_GETTERS.fullmatch(name):
            self._env_read(node, node.args[0] if node.args else None)
        elif _WHOLE_ENV.fullmatch(name):
            if name.startswith("os.environ.") or (
                node.args and self.names.resolve(node.args[0]) == "os.environ"
            ):
                self._observe(
                    Behaviour.FINGERPRINT, Severity.MEDIUM, node, "reads the whole environment", name
                )
        else:
            self._deserialization_or_catalog(node, name)

    def _deserialization_or_catalog(self, node: ast.Call, name: str) -> None:
        if name == "torch.load":
            weights_only = _keyword(node, "weights_only")
            if weights_only is not None and _is_true(weights_only):
                return
            explicit = weights_only is not None
            message = (
                "torch.load with weights_only=False unpickles arbitrary objects"
                if explicit
                else ("torch.load without weights_only=True unpickles arbitrary objects on torch < 2.6")
            )
            self._deserialize(node, name, message, Severity.HIGH if explicit else Severity.MEDIUM)
        elif name in ("numpy.load", "numpy.lib.npyio.load"):
            allow = _keyword(node, "allow_pickle")
            if allow is not None and _is_true(allow):
                self._deserialize(node, name, "loads arrays with allow_pickle=True", Severity.HIGH)
        elif name in ("yaml.load", "yaml.load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = (self.names.resolve(loader) or "") if loader is not None else ""
            if not re.fullmatch(r"yaml\.(C?SafeLoader|BaseLoader)", loader_name):
                severity = Severity.MEDIUM if loader_name == "yaml.FullLoader" else Severity.HIGH
                self._deserialize(
                    node, name, "parses YAML with a loader that builds arbitrary objects", severity
                )
        elif re.fullmatch(r"(tensorflow\.)?(tf_)?keras\.(models|saving)\.load_model", name):
            safe_mode = _keyword(node, "safe_mode")
            if safe_mode is not None and isinstance(safe_mode, ast.Constant) and safe_mode.value is False:
                self._deserialize(node, name, "loads a Keras model with safe_mode=False", Severity.HIGH)
        else:
            self._catalogued(node, name)

    def _deserialize(self, node: ast.Call, name: str, message: str, severity: Severity) -> None:
        tainted = self._argument_taint(node) & _HIDDEN_ORIGINS
        if tainted:
            severity, message = Severity.CRITICAL, f"{message}, on {'/'.join(sorted(tainted))} data"
        self._observe(Behaviour.DESERIALIZATION, severity, node, message, name)

    def _catalogued(self, node: ast.Call, name: str) -> None:
        found = capability(name)
        if found is None:
            return
        hideable = found.behaviour in (Behaviour.DESERIALIZATION, Behaviour.DYNAMIC_CODE)
        tainted = self._argument_taint(node) & _HIDDEN_ORIGINS if hideable else set()
        severity, label = found.severity, found.label
        if found.behaviour is Behaviour.PROCESS and _mentions_pip_install(node):
            label = "installs packages at run time (pip install)"
        if tainted:
            severity, label = Severity.CRITICAL, f"{label}, on {'/'.join(sorted(tainted))} data"
        self._observe(found.behaviour, severity, node, f"{label}: {name}", name)

    def _argument_taint(self, node: ast.Call) -> set[str]:
        found: set[str] = set()
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            found |= self.names.taint(argument)
        return found

    def _exec(self, node: ast.Call, name: str) -> None:
        argument = node.args[0] if node.args else _keyword(node, "source")
        if argument is None:
            return
        tainted = self.names.taint(argument) & _HIDDEN_ORIGINS
        payload = hidden_payload(argument, self.names)
        if tainted:
            self._observe(
                Behaviour.DYNAMIC_CODE,
                Severity.CRITICAL,
                node,
                f"{name} runs {'/'.join(sorted(tainted))} data",
                name,
            )
        elif payload is not None:
            self._observe(
                Behaviour.DYNAMIC_CODE, Severity.MEDIUM, node, f"{name} runs code held in a string", name
            )
        else:
            self._observe(
                Behaviour.DYNAMIC_CODE, Severity.HIGH, node, f"{name} runs code computed at run time", name
            )
        if payload is not None:
            self._analyse_payload(payload, node)

    def _dynamic_import(self, node: ast.Call, name: str) -> None:
        argument = node.args[0] if node.args else _keyword(node, "name")
        if argument is None or constant_str(argument) is not None:
            return
        severity = Severity.CRITICAL if self.names.taint(argument) - {"clock"} else Severity.HIGH
        self._observe(
            Behaviour.DYNAMIC_CODE, severity, node, f"{name} imports a module named at run time", name
        )

    def _path_loader(self, node: ast.Call, name: str) -> None:
        tainted = self._argument_taint(node) & {"network", "download", "decoded"}
        constant = all(isinstance(a, ast.Constant) for a in node.args)
        severity = Severity.CRITICAL if tainted else Severity.MEDIUM if constant else Severity.HIGH
        origin = f" from {'/'.join(sorted(tainted))} data" if tainted else ""
        self._observe(Behaviour.DYNAMIC_CODE, severity, node, f"{name} loads code from a file{origin}", name)

    def _dynamic_getattr(self, node: ast.Call) -> None:
        if len(node.args) < 2 or constant_str(node.args[1]) is not None:
            return
        module = self.names.resolve(node.args[0])
        if module is not None and module.split(".")[0] in WATCHED_MODULES:
            self._observe(
                Behaviour.DYNAMIC_CODE,
                Severity.HIGH,
                node,
                f"fetches an attribute of {module} by a computed name",
                module,
            )

    def _file_write(self, node: ast.Call, name: str) -> None:
        if name.startswith("pathlib."):
            target = node.func.value if isinstance(node.func, ast.Attribute) else None
            path = target.args[0] if isinstance(target, ast.Call) and target.args else None
            writes = not name.endswith(".open") or _write_mode(
                node.args[0] if node.args else _keyword(node, "mode")
            )
        else:
            path = node.args[0] if node.args else _keyword(node, "file")
            mode = (
                node.args[1]
                if len(node.args) > 1
                else _keyword(node, "mode" if name != "os.open" else "flags")
            )
            writes = _write_mode(mode) or (name == "os.open" and mode is not None)
        if path is not None and writes:
            self._risky_path(node, path, f"writes to {{}} ({name})")

    def _credential_access(self, node: ast.Call, name: str | None) -> None:
        """A file access whose path names credentials, keys or browser data (``~/.aws/credentials``)."""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if not (name is not None and FILE_ACCESS.fullmatch(name)) and method not in PATH_METHODS:
            return
        mode = _keyword(node, "mode") or (node.args[1] if name in _OPENERS and len(node.args) > 1 else None)
        if method == "open" and name not in _OPENERS and node.args:
            mode = node.args[0]
        if _write_mode(mode):
            return  # a write: persistence, graded by _file_write
        parts = [*node.args, *(k.value for k in node.keywords)]
        if isinstance(node.func, ast.Attribute):
            parts.append(node.func.value)
        path = re.sub(r"/+", "/", "/".join(self._path_strings(parts)))
        match = CREDENTIAL_PATH.search(path)
        if match is not None:
            self._observe(
                Behaviour.CREDENTIALS,
                Severity.HIGH,
                node,
                f"accesses credentials or private data ({match.group(0)!r})",
                name or "",
            )

    def _path_strings(self, nodes: list[ast.expr], hops: int = 0) -> list[str]:
        """String constants in path expressions, following variables assigned once (a few hops deep)."""
        found: list[str] = []
        for part in nodes:
            subs = sorted(
                (s for s in ast.walk(part) if isinstance(s, ast.Constant | ast.Name)),
                key=lambda s: (s.lineno, s.col_offset),
            )
            for sub in subs:
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and len(sub.value) < 200:
                    found.append(sub.value)
                elif isinstance(sub, ast.Name) and sub.id in self.names.values and hops < 3:
                    found += self._path_strings([self.names.values[sub.id]], hops + 1)
        return found

    def _file_copy(self, node: ast.Call, name: str) -> None:
        destination = node.args[1] if len(node.args) > 1 else _keyword(node, "dst")
        if destination is not None:
            self._risky_path(node, destination, f"copies or moves a file to {{}} ({name})")

    def _risky_path(self, node: ast.Call, path: ast.expr, template: str) -> None:
        strings = [
            s.value for s in ast.walk(path) if isinstance(s, ast.Constant) and isinstance(s.value, str)
        ]
        sensitive = next((s for s in strings if SENSITIVE_PATH.search(s)), None)
        outside = next(
            (s for s in strings if s.startswith(("/", "~")) or re.match(r"[A-Za-z]:[\\/]", s)), None
        )
        if sensitive is not None:
            self._observe(Behaviour.FILESYSTEM, Severity.HIGH, node, template.format(repr(sensitive)))
        elif outside is not None:
            self._observe(Behaviour.FILESYSTEM, Severity.MEDIUM, node, template.format(repr(outside)))

    def _env_read(self, node: ast.AST, key: ast.expr | None) -> None:
        name = constant_str(key) if key is not None else None
        if name is not None and SECRET_NAME.search(name):
            self._observe(
                Behaviour.FINGERPRINT, Severity.HIGH, node, f"reads the secret environment variable {name}"
            )
        else:
            shown = name if name is not None else "named at run time"
            self._observe(
                Behaviour.FINGERPRINT, Severity.LOW, node, f"reads the environment variable {shown}"
            )

    def _time_trigger(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        if any(self.names.is_clock(o) for o in operands) and any(
            self.names.is_fixed_time(o) for o in operands
        ):
            self._observe(
                Behaviour.FINGERPRINT,
                Severity.HIGH,
                node,
                "compares the clock to a fixed time (time-based trigger)",
            )

    def _analyse_payload(self, payload: str, node: ast.Call) -> None:
        if self.depth >= MAX_NESTING:
            return
        try:
            tree = parse_module(payload)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        for found in SourceAnalysis(tree, depth=self.depth + 1).run():
            message = f"in code it hides (payload line {found.line}): {found.message}"
            self.observations.append(
                Observation(
                    found.behaviour, found.severity, node.lineno, message, found.code, found.name, True, True
                )
            )


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _write_mode(mode: ast.expr | None) -> bool:
    text = constant_str(mode)
    return text is not None and any(flag in text for flag in "wax+")


def _mentions_pip_install(node: ast.Call) -> bool:
    strings = " ".join(
        s.value for s in ast.walk(node) if isinstance(s, ast.Constant) and isinstance(s.value, str)
    )
    return "pip" in strings and "install" in strings


def _unparse(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        return ""
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"
