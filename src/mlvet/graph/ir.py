"""A small format-neutral graph IR: nodes, values, constants, inputs/outputs and subgraphs.

Importers build a ``Graph``; analyses read it through the producer/consumer indexes, which make every
walk linear in the size of the graph. Large constants are kept as shape and dtype only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_CONSTANT_ELEMENTS = 1 << 16
"""Constants with more elements than this keep only their shape and dtype (``value`` is None)."""


@dataclass
class Constant:
    """An initializer or the output of a ``Constant`` node."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    value: npt.NDArray[Any] | None
    """The array, or None when it is large, stored externally or unreadable."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: its name, element type (numpy-style name) and shape (None if unknown)."""

    name: str
    elem_type: str
    shape: tuple[int | str | None, ...] | None = None


@dataclass
class Node:
    """One operation. ``captures`` are outer-scope values read by its subgraphs (If/Loop/Scan bodies)."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    subgraphs: dict[str, Graph] = field(default_factory=dict)
    captures: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or f"{self.op_type}:{self.outputs[0] if self.outputs else '?'}"


@dataclass
class Graph:
    """A computation graph with topologically ordered ``nodes`` and lookup indexes."""

    name: str
    nodes: list[Node]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    constants: dict[str, Constant]
    producer: dict[str, int] = field(default_factory=dict)
    """Value name -> index of the node producing it."""
    consumers: dict[str, list[int]] = field(default_factory=dict)
    """Value name -> indexes of the nodes reading it (captures included)."""

    def __post_init__(self) -> None:
        self.nodes = _topological(self.nodes)
        self.reindex()

    def reindex(self) -> None:
        """Rebuild ``producer`` and ``consumers`` from ``nodes``."""
        self.producer = {}
        self.consumers = {}
        for index, node in enumerate(self.nodes):
            for name in node.outputs:
                if name:
                    self.producer[name] = index
            for name in (*node.inputs, *node.captures):
                if name:
                    self.consumers.setdefault(name, []).append(index)

    def producer_of(self, value: str) -> Node | None:
        index = self.producer.get(value)
        return None if index is None else self.nodes[index]

    def consumers_of(self, value: str) -> Iterator[Node]:
        for index in self.consumers.get(value, ()):
            yield self.nodes[index]

    @property
    def input_names(self) -> list[str]:
        """Graph inputs that are real inputs (not initializers listed as inputs)."""
        return [info.name for info in self.inputs if info.name not in self.constants]

    def input_info(self, name: str) -> ValueInfo | None:
        return next((info for info in self.inputs if info.name == name), None)

    def outputs_reached(self, start: str, limit: int) -> tuple[str, ...]:
        """The graph outputs computed from ``start`` (a forward walk over at most ``limit`` values)."""
        outputs = {info.name for info in self.outputs}
        found: list[str] = []
        queue: deque[str] = deque([start])
        seen = {start}
        while queue and len(seen) < limit:
            value = queue.popleft()
            if value in outputs:
                found.append(value)
            for node in self.consumers_of(value):
                for output in node.outputs:
                    if output and output not in seen:
                        seen.add(output)
                        queue.append(output)
        return tuple(sorted(found))

    def ancestors_with(self, start: str, ops: frozenset[str], limit: int = 512) -> list[str]:
        """Labels of the nodes among ``start``'s ancestors whose op is in ``ops`` (bounded walk)."""
        found: list[str] = []
        stack, seen = [start], {start}
        while stack and len(seen) < limit:
            node = self.producer_of(stack.pop())
            if node is None:
                continue
            if node.op_type in ops:
                found.append(node.label)
            for name in node.inputs:
                if name and name not in seen:
                    seen.add(name)
                    stack.append(name)
        return found

    def walk(self) -> Iterator[Graph]:
        """This graph and every nested subgraph."""
        stack: list[Graph] = [self]
        while stack:
            graph = stack.pop()
            yield graph
            for node in graph.nodes:
                stack.extend(node.subgraphs.values())


def _topological(nodes: list[Node]) -> list[Node]:
    """Nodes in an order where producers come first (stable; cycles keep their given order at the end)."""
    produced: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.outputs:
            if name:
                produced[name] = index
    if all(
        produced.get(name, -1) < index
        for index, node in enumerate(nodes)
        for name in (*node.inputs, *node.captures)
    ):
        return nodes  # already in order: the usual case
    waiting = [0] * len(nodes)
    readers: dict[int, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in {*node.inputs, *node.captures}:
            source = produced.get(name)
            if source is not None and source != index:
                waiting[index] += 1
                readers.setdefault(source, []).append(index)
    ready = [index for index in range(len(nodes)) if waiting[index] == 0]
    ready.reverse()
    order: list[int] = []
    while ready:
        index = ready.pop()
        order.append(index)
        for reader in reversed(readers.get(index, ())):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                ready.append(reader)
    if len(order) < len(nodes):
        seen = set(order)
        order.extend(index for index in range(len(nodes)) if index not in seen)
    if order == list(range(len(nodes))):
        return nodes
    return [nodes[index] for index in order]


def captures_of(graphs: Iterable[Graph]) -> tuple[str, ...]:
    """Names read inside ``graphs`` (recursively) that none of them defines: outer-scope values."""
    read: dict[str, None] = {}
    defined: set[str] = set()
    for graph in graphs:
        for inner in graph.walk():
            defined.update(inner.constants)
            defined.update(info.name for info in inner.inputs)
            for node in inner.nodes:
                defined.update(node.outputs)
                read.update(dict.fromkeys(node.inputs))
                read.update(dict.fromkeys(node.captures))
            read.update(dict.fromkeys(info.name for info in inner.outputs))
    return tuple(name for name in read if name and name not in defined)
