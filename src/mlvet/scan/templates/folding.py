"""Constant folding of Jinja2 expressions: the strings that name-hiding tricks always evaluate to.

``"__cla" ~ "ss__"``, ``"_" * 2``, ``["__", "class", "__"]|join``, ``"ssalc__"|reverse`` and ``"%c" % 95``
all spell a dunder name without containing one. Only these few, bounded operations are evaluated.
"""

from __future__ import annotations

import re

from jinja2 import nodes

MAX_FOLDED = 256
_PERCENT_FORMAT = re.compile(r"%[scdr%]")
Folded = str | int | list[str | int]
"""What a constant expression evaluates to, as far as name-hiding tricks need."""


def fold(node: nodes.Node, constants: dict[str, Folded]) -> str | None:
    """The string ``node`` always evaluates to, or None when it is not a foldable constant."""
    value = _fold_value(node, constants)
    return value if isinstance(value, str) else None


def constant_variables(tree: nodes.Node) -> dict[str, Folded]:
    """Variables set exactly once, to a value that folds to a constant (``{% set u = "_" * 2 %}``)."""
    counts: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "store":
            counts[name.name] = counts.get(name.name, 0) + 1
    constants: dict[str, Folded] = {}
    for _ in range(3):  # a few rounds resolve variables defined from other variables
        for statement in tree.find_all(nodes.Assign):
            target = statement.target
            if isinstance(target, nodes.Name) and counts.get(target.name) == 1:
                value = _fold_value(statement.node, constants)
                if value is not None:
                    constants[target.name] = value
    return constants


def _fold_value(node: nodes.Node, constants: dict[str, Folded]) -> Folded | None:
    if isinstance(node, nodes.Const):
        value = node.value
        return value if isinstance(value, str | int) and not isinstance(value, bool) else None
    if isinstance(node, nodes.Name):
        return constants.get(node.name)
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_fold_value(item, constants) for item in node.items]
        scalars = [i for i in items if isinstance(i, str | int)]
        return scalars if len(scalars) == len(items) else None
    if isinstance(node, nodes.Concat):
        parts = [_fold_value(part, constants) for part in node.nodes]
        if all(isinstance(p, str | int) for p in parts):
            return _bounded("".join(str(p) for p in parts))
        return None
    if isinstance(node, nodes.BinExpr):
        return _fold_binary(node, _fold_value(node.left, constants), _fold_value(node.right, constants))
    if isinstance(node, nodes.Filter) and node.node is not None:
        args = [_fold_value(a, constants) for a in node.args]
        return _fold_method(node.name, _fold_value(node.node, constants), args)
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        args = [_fold_value(a, constants) for a in node.args]
        return _fold_method(node.node.attr, _fold_value(node.node.node, constants), args)
    return None


def _fold_binary(node: nodes.BinExpr, left: Folded | None, right: Folded | None) -> Folded | None:
    if isinstance(node, nodes.Add) and isinstance(left, str) and isinstance(right, str):
        return _bounded(left + right)
    if isinstance(node, nodes.Mul):
        text, count = (left, right) if isinstance(left, str) else (right, left)
        if isinstance(text, str) and isinstance(count, int) and 0 <= count <= MAX_FOLDED:
            return _bounded(text * count)
    if isinstance(node, nodes.Mod) and isinstance(left, str) and _safe_percent_format(left):
        args = right if isinstance(right, list) else [right]
        if all(isinstance(a, str | int) for a in args):
            try:
                return _bounded(left % tuple(args))
            except (TypeError, ValueError, OverflowError):
                return None
    return None


def _safe_percent_format(text: str) -> bool:
    """Only %s/%c/%d/%r conversions without width: safe to evaluate, and what obfuscation uses."""
    return len(text) <= MAX_FOLDED and "%" not in _PERCENT_FORMAT.sub("", text)


def _fold_method(name: str, receiver: Folded | None, args: list[Folded | None]) -> str | None:
    """Filters and str methods that rearrange strings: join, reverse, replace, case changes."""
    first = args[0] if args else None
    if name == "join":
        if isinstance(receiver, list):
            return _bounded((first if isinstance(first, str) else "").join(map(str, receiver)))
        if isinstance(receiver, str) and isinstance(first, list):
            return _bounded(receiver.join(map(str, first)))
        return None
    if not isinstance(receiver, str):
        return None
    if name == "reverse":
        return receiver[::-1]
    if name in ("lower", "upper", "string", "trim", "strip", "title", "capitalize"):
        return {"lower": receiver.lower, "upper": receiver.upper}.get(name, receiver.strip)()
    second = args[1] if len(args) > 1 else None
    if name == "replace" and isinstance(first, str) and isinstance(second, str):
        return _bounded(receiver.replace(first, second, MAX_FOLDED))
    return None


def _bounded(text: str) -> str | None:
    return text if len(text) <= MAX_FOLDED * 4 else None
