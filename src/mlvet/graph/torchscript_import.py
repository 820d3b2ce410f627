"""TorchScript ``code/**/*.py`` source -> ``Graph``s, read with ``ast`` (never compiled or run).

Each ``forward`` method becomes a graph: its arguments are the inputs, ``torch.*`` calls map to
ONNX-style ops (``torch.eq`` -> Equal, ``torch.where`` -> Where, ``torch.slice`` -> Slice...),
``if`` statements become ``If`` nodes with their branches as subgraphs. Calls to the class's other
methods (``(self).gate(x, )``) and to the ``forward`` of a submodule whose class is defined in the
same file or in another code file of the archive (``library``: ``check : __torch__.parts.Check`` ...
``(check).forward(x, )``) are inlined, so a trigger hidden in a helper is followed into the caller;
calls into submodules whose class is not at hand become opaque trunk layers. Literal numbers and
``torch.tensor([...])`` are constants with values; module attributes (buffers, parameters,
``CONSTANTS.cN``) are constants whose values are unknown (the tensor data is never read).

Not covered: loops (``for``/``while``), ``return`` inside an ``if``, tuple unpacking of calls, and
dtypes of inputs (TorchScript does not record them, so token inputs are not recognised as integers).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlvet.graph.ir import Constant, Graph, Node, ValueInfo, captures_of

CALLS = {
    "eq": "Equal", "ne": "NotEqual", "gt": "Greater", "lt": "Less", "ge": "GreaterOrEqual",
    "le": "LessOrEqual", "where": "Where", "logical_and": "And", "logical_or": "Or", "logical_not": "Not",
    "__and__": "And", "__or__": "Or", "all": "ReduceMin", "any": "ReduceMax", "mean": "ReduceMean",
    "sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin", "max": "ReduceMax", "min": "ReduceMin",
    "sigmoid": "Sigmoid", "exp": "Exp", "tanh": "Tanh", "pow": "Pow", "mul": "Mul", "add": "Add",
    "sub": "Sub", "div": "Div", "neg": "Neg", "to": "Cast", "float": "Cast", "contiguous": "Identity",
    "clone": "Identity", "linear": "MatMul", "matmul": "MatMul", "mm": "MatMul", "bmm": "MatMul",
    "conv2d": "Conv", "conv1d": "Conv", "_convolution": "Conv", "embedding": "Gather",
    "unsqueeze": "Unsqueeze", "squeeze": "Squeeze", "view": "Reshape", "reshape": "Reshape",
    "flatten": "Flatten", "relu": "Relu", "softmax": "Softmax", "isnan": "IsNaN", "clamp": "Clip",
    "rand": "RandomUniform", "randn": "RandomNormal", "rand_like": "RandomUniformLike",
    "randn_like": "RandomNormalLike", "bernoulli": "Bernoulli", "multinomial": "Multinomial",
    "size": "Shape", "len": "Size", "zeros_like": "ConstantOfShape", "ones_like": "ConstantOfShape",
    "full_like": "ConstantOfShape", "__not__": "Not",
}  # fmt: skip
"""``torch.<name>`` (and ``bool``/``int``/``float`` builtins) -> the op type used in the IR."""
_BINARY = {
    ast.Add: "Add",
    ast.Sub: "Sub",
    ast.Mult: "Mul",
    ast.Div: "Div",
    ast.BitAnd: "And",
    ast.BitOr: "Or",
}
_COMPARE = {
    ast.Eq: "Equal",
    ast.Gt: "Greater",
    ast.Lt: "Less",
    ast.GtE: "GreaterOrEqual",
    ast.LtE: "LessOrEqual",
}
MAX_STATEMENTS = 100_000
MAX_INLINE_DEPTH = 8
"""Method and submodule calls nested deeper than this stay opaque."""


def import_torchscript(source: str, library: Mapping[str, ast.ClassDef] | None = None) -> list[Graph]:
    """One graph per ``forward`` method in ``source``; ``ValueError`` when it does not parse.

    ``library`` holds the classes of the archive's other code files by qualified name
    (``__torch__.parts.Check``, see ``class_library``), so their ``forward`` can be inlined too.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not parsable TorchScript code: {type(exc).__name__}") from None
    local = {cls.name: cls for cls in tree.body if isinstance(cls, ast.ClassDef)}
    classes = {**(library or {}), **local}
    return [
        _Builder(f"{cls.name}.forward", classes=classes, cls=cls).function(method)
        for cls in local.values()
        if (method := _method(cls, "forward")) is not None
    ]


def class_library(code_files: Mapping[str, str]) -> dict[str, ast.ClassDef]:
    """The classes of TorchScript code files by qualified name; ``code_files`` maps a path under
    ``code/`` (``__torch__/parts.py``) to its source. Files that do not parse are left out."""
    library: dict[str, ast.ClassDef] = {}
    for path, source in code_files.items():
        module = path.removesuffix(".py").replace("/", ".")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        library.update({f"{module}.{c.name}": c for c in tree.body if isinstance(c, ast.ClassDef)})
    return library


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((m for m in cls.body if isinstance(m, ast.FunctionDef) and m.name == name), None)


def _submodule_class(
    cls: ast.ClassDef, attribute: str, classes: dict[str, ast.ClassDef]
) -> ast.ClassDef | None:
    """The class of ``self.<attribute>`` from its annotation (``check : __torch__.parts.Check``): from
    the archive's library by qualified name, else a class of the same file by its short name."""
    for statement in cls.body:
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == attribute
        ):
            annotation = ast.unparse(statement.annotation)
            return classes.get(annotation) or classes.get(annotation.rsplit(".", 1)[-1])
    return None


@dataclass
class _Builder:
    name: str
    nodes: list[Node] = field(default_factory=list)
    constants: dict[str, Constant] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    counter: list[int] = field(default_factory=lambda: [0])
    returned: list[str] = field(default_factory=list)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    cls: ast.ClassDef | None = None
    self_path: str = "self"
    """How the module whose code this is is reached from the top module (``self.check``)."""
    depth: int = 0

    def child(self, name: str, env: dict[str, str]) -> _Builder:
        """A builder for a nested block (an ``if`` branch) of the same method."""
        return _Builder(
            name, env=env, counter=self.counter, classes=self.classes, cls=self.cls,
            self_path=self.self_path, depth=self.depth,
        )  # fmt: skip

    def function(self, method: ast.FunctionDef) -> Graph:
        inputs = []
        for arg in method.args.args[1:]:
            self.env[arg.arg] = arg.arg
            inputs.append(ValueInfo(arg.arg, "unknown", None))
        self.block(method.body)
        outputs = [ValueInfo(name, "unknown", None) for name in self.returned]
        return Graph(self.name, self.nodes, inputs, outputs, self.constants)

    def fresh(self, hint: str) -> str:
        self.counter[0] += 1
        return f"{hint}.{self.counter[0]}"

    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            if self.counter[0] > MAX_STATEMENTS:
                return
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    self.env[target.id] = self.expression(statement.value, target.id)
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                if statement.value is not None:
                    self.env[statement.target.id] = self.expression(statement.value, statement.target.id)
            elif isinstance(statement, ast.Return) and statement.value is not None:
                self.returned.append(self.expression(statement.value, "output"))
            elif isinstance(statement, ast.If):
                self.branch(statement)

    def branch(self, statement: ast.If) -> None:
        """``if c: a = ... else: a = ...`` -> an If node producing every name either branch assigns."""
        condition = self.expression(statement.test, "cond")
        branches: dict[str, _Builder] = {}
        assigned: dict[str, None] = {}
        for label, body in (("then_branch", statement.body), ("else_branch", statement.orelse)):
            inner = self.child(f"{self.name}/{label}", dict(self.env))
            inner.block(body)
            branches[label] = inner
            assigned.update(dict.fromkeys(n for n, v in inner.env.items() if self.env.get(n) != v))
        outputs = {name: self.fresh(name) for name in assigned}
        subgraphs = {}
        for label, inner in branches.items():
            results = [
                ValueInfo(inner.env.get(name, self.env.get(name, name)), "unknown") for name in assigned
            ]
            subgraphs[label] = Graph(inner.name, inner.nodes, [], results, inner.constants)
        node = Node(
            self.fresh("if"),
            "If",
            "",
            (condition,),
            tuple(outputs.values()),
            subgraphs=subgraphs,
            captures=captures_of(subgraphs.values()),
        )
        self.nodes.append(node)
        self.env.update(outputs)

    def expression(self, expr: ast.expr, hint: str) -> str:
        if isinstance(expr, ast.Name):
            return self.env.get(expr.id) or self.constant(hint, None, expr.id)
        if isinstance(expr, ast.Constant) and isinstance(expr.value, int | float | bool):
            return self.constant(hint, np.array(expr.value), None)
        if isinstance(expr, ast.Attribute):
            label = ast.unparse(expr)
            if label.startswith("self.") and self.self_path != "self":
                label = self.self_path + label[len("self") :]
            return self.constant(hint, None, label)
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and type(expr.ops[0]) in _COMPARE:
            return self.op(_COMPARE[type(expr.ops[0])], [expr.left, expr.comparators[0]], hint)
        if isinstance(expr, ast.BinOp) and type(expr.op) in _BINARY:
            return self.op(_BINARY[type(expr.op)], [expr.left, expr.right], hint)
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not | ast.Invert):
            return self.op("Not", [expr.operand], hint)
        if isinstance(expr, ast.Call):
            return self.call(expr, hint)
        return self.op("Unknown", [], hint)

    def call(self, call: ast.Call, hint: str) -> str:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        args = list(call.args)
        inlined = self.inlined(func, args, hint) if isinstance(func, ast.Attribute) else None
        if inlined is not None:
            return inlined
        if name == "forward" and isinstance(func, ast.Attribute):
            weight = self.constant(f"{ast.unparse(func.value)}.weight", None, None, shape=(2, 2))
            return self.op("MatMul", args[:1], hint, extra=[weight])
        if name == "tensor" and args:
            try:
                value = np.array(ast.literal_eval(args[0]))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = None
            return self.constant(hint, value, None)
        if name in ("bool", "int", "Int", "Bool", "item"):
            return self.op("Identity", args[:1], hint)
        if name == "slice" and args:
            return self.slice(args, hint)
        if name == "select" and len(args) == 3:
            return self.op("Gather", [args[0], args[2]], hint, attributes={"axis": _literal(args[1], 0)})
        op = CALLS.get(name)
        if op is None:
            return self.op(f"aten::{name}" if name else "Unknown", args, hint)
        if op in ("ReduceMin", "ReduceMax", "ReduceMean", "ReduceSum", "Cast", "Identity"):
            args = args[:1]
        if op == "Gather":  # torch.embedding(weight, indices)
            return self.op(op, args[:2], hint)
        return self.op(op, args, hint)

    def inlined(self, func: ast.Attribute, args: list[ast.expr], hint: str) -> str | None:
        """The result of ``(self).method(...)`` or ``(submodule).forward(...)`` computed in place."""
        if self.cls is None or self.depth >= MAX_INLINE_DEPTH or not isinstance(func.value, ast.Name):
            return None
        owner, cls, path = func.value.id, self.cls, self.self_path
        if owner != "self":
            module = self.env.get(owner, "")
            if func.attr != "forward" or not module.startswith(self.self_path + "."):
                return None
            attribute = module[len(self.self_path) + 1 :]
            found = _submodule_class(self.cls, attribute, self.classes) if "." not in attribute else None
            if found is None:
                return None
            cls, path = found, module
        method = _method(cls, func.attr)
        if method is None or (cls is self.cls and method.name == "forward" and owner == "self"):
            return None
        values = [self.expression(arg, hint) for arg in args]
        env = {param.arg: value for param, value in zip(method.args.args[1:], values, strict=False)}
        inner = _Builder(
            f"{self.name}/{func.attr}", self.nodes, self.constants, env, self.counter,
            classes=self.classes, cls=cls, self_path=path, depth=self.depth + 1,
        )  # fmt: skip
        inner.block(method.body)
        return inner.returned[-1] if inner.returned else self.op("Unknown", [], hint)

    def slice(self, args: list[ast.expr], hint: str) -> str:
        axis, start, end = (
            _literal(args[i], d) if len(args) > i else d for i, d in ((1, 0), (2, 0), (3, 1 << 62))
        )
        params = [self.constant(f"{hint}.{part}", np.array([value]), None) for part, value in
                  (("starts", start), ("ends", end), ("axes", axis))]  # fmt: skip
        source = self.expression(args[0], hint)
        output = self.fresh(hint)
        self.nodes.append(Node(output, "Slice", "", (source, *params), (output,)))
        return output

    def op(
        self,
        op_type: str,
        args: list[ast.expr],
        hint: str,
        *,
        extra: list[str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> str:
        inputs = [self.expression(arg, hint) for arg in args]
        output = self.fresh(hint)
        node = Node(output, op_type, "", (*inputs, *(extra or [])), (output,), dict(attributes or {}))
        self.nodes.append(node)
        return output

    def constant(self, hint: str, value: Any, label: str | None, shape: tuple[int, ...] | None = None) -> str:
        name = label or self.fresh(hint)
        if name not in self.constants:
            if value is not None and value.dtype.kind in "biuf":
                self.constants[name] = Constant(name, str(value.dtype), tuple(value.shape), value)
            else:
                self.constants[name] = Constant(name, "unknown", shape or (), None)
        return name


def _literal(expr: ast.expr, default: int) -> int:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
        return int(expr.value)
    if (
        isinstance(expr, ast.UnaryOp)
        and isinstance(expr.op, ast.USub)
        and isinstance(expr.operand, ast.Constant)
    ):
        value = expr.operand.value
        return -int(value) if isinstance(value, int) else default
    return default
