"""Structural signatures of graph nodes, and the matching of two graphs' nodes without their names.

Names are evidence only: an injector that renames the original tensor and gives its name to the
injected output (the ShadowLogic trick) defeats any name-based diff. Every node gets three hashes:

- ``local``: domain, op type, attributes (tensor attributes by dtype and shape) and the shape of
  its subgraphs (op counts), never a name;
- ``backward`` (its input cone): ``local`` plus, per input slot, the backward hash of the producing
  node and output index, the position of a graph input, or the dtype and shape of a constant;
- ``forward`` (its output cone): ``local`` plus the multiset of (forward hash of consumer, slot) and
  the positions of the graph outputs it produces.

``match_nodes`` pairs nodes in three passes: equal backward hashes (topological order), equal
forward hashes on what is left (reverse order), then neighbour propagation: an unmatched pair with the
same ``local`` hash whose inputs or consumers are already paired. A change upstream invalidates the
backward hashes below it and a change downstream the forward hashes above it, so the two cones
together pin down every node that is not itself on the changed path.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlvet.graph.ir import Constant, Graph, Node

MAX_NEIGHBOUR_ROUNDS = 8
"""Neighbour propagation stops after this many rounds without reaching a fixed point."""


def _digest(parts: Iterable[object]) -> str:
    hasher = hashlib.blake2b(digest_size=12)
    for part in parts:
        hasher.update(repr(part).encode("utf-8", "replace"))
        hasher.update(b"\x1f")
    return hasher.hexdigest()


def _attribute_key(value: Any) -> object:
    if isinstance(value, Constant):
        return ("tensor", value.dtype, value.shape)
    return value


def local_signature(node: Node) -> str:
    """What the node does, independent of its name and of its neighbours."""
    attributes = tuple(sorted((k, _attribute_key(v)) for k, v in node.attributes.items()))
    subgraphs = tuple(
        sorted(
            (key, tuple(sorted(Counter(n.op_type for g in graph.walk() for n in g.nodes).items())))
            for key, graph in node.subgraphs.items()
        )
    )
    return _digest((node.domain or "ai.onnx", node.op_type, attributes, subgraphs, len(node.outputs)))


@dataclass
class Signatures:
    """Per node index of one graph: local, backward and forward hashes; plus value roles."""

    graph: Graph
    local: list[str] = field(default_factory=list)
    backward: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    input_position: dict[str, int] = field(default_factory=dict)
    output_positions: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Graph) -> Signatures:
        sig = cls(graph)
        sig.input_position = {name: i for i, name in enumerate(graph.input_names)}
        for position, info in enumerate(graph.outputs):
            sig.output_positions.setdefault(info.name, []).append(position)
        sig.local = [local_signature(node) for node in graph.nodes]
        sig.backward = [""] * len(graph.nodes)
        for index, node in enumerate(graph.nodes):
            sig.backward[index] = _digest(
                (sig.local[index], *(sig.value_role(v, sig.backward) for v in node.inputs))
            )
        sig.forward = [""] * len(graph.nodes)
        for index in range(len(graph.nodes) - 1, -1, -1):
            node = graph.nodes[index]
            uses: list[tuple[object, ...]] = []
            for out_slot, name in enumerate(node.outputs):
                uses.extend(("graph-output", out_slot, p) for p in sig.output_positions.get(name, ()))
                for reader in graph.consumers.get(name, ()):
                    if reader <= index:
                        continue  # a cycle in a malformed graph: ignore the back edge
                    slots: list[object] = [s for s, v in enumerate(graph.nodes[reader].inputs) if v == name]
                    slots = slots or ["capture"]
                    uses.extend((out_slot, sig.forward[reader], slot) for slot in slots)
            sig.forward[index] = _digest((sig.local[index], *sorted(map(repr, uses))))
        return sig

    def value_role(self, value: str, node_hashes: list[str]) -> object:
        """How a value enters a node, by structure: producer hash + output index, input position, constant."""
        if not value:
            return ("absent",)
        producer = self.graph.producer.get(value)
        if producer is not None:
            return ("node", node_hashes[producer], self.graph.nodes[producer].outputs.index(value))
        if value in self.input_position:
            return ("input", self.input_position[value])
        constant = self.graph.constants.get(value)
        if constant is not None:
            return ("constant", constant.dtype, constant.shape)
        return ("outer",)


@dataclass(frozen=True)
class Matching:
    """Known-good node index <-> candidate node index, and how each pair was found."""

    pairs: dict[int, int]
    """Candidate index -> known-good index."""
    by_stage: dict[str, int]

    @property
    def reverse(self) -> dict[int, int]:
        return {k: c for c, k in self.pairs.items()}


def match_nodes(known: Signatures, candidate: Signatures) -> Matching:
    """Pair the nodes of two graphs by structure (see the module docstring)."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    stages = {"backward": 0, "forward": 0, "neighbour": 0}

    def by_hash(hashes: list[str], order: Iterable[int], cand_hashes: list[str], stage: str) -> None:
        pool: dict[str, list[int]] = defaultdict(list)
        for index in order:
            if index not in taken:
                pool[hashes[index]].append(index)
        for index in order_of(cand_hashes, stage):
            if index in pairs:
                continue
            bucket = pool.get(cand_hashes[index])
            if bucket:
                partner = bucket.pop(0)
                pairs[index] = partner
                taken.add(partner)
                stages[stage] += 1

    def order_of(hashes: list[str], stage: str) -> list[int]:
        indexes = list(range(len(hashes)))
        return indexes if stage == "backward" else indexes[::-1]

    known_count = len(known.graph.nodes)
    by_hash(known.backward, range(known_count), candidate.backward, "backward")
    by_hash(known.forward, range(known_count - 1, -1, -1), candidate.forward, "forward")
    for _ in range(MAX_NEIGHBOUR_ROUNDS):
        found = _neighbour_round(known, candidate, pairs, taken)
        stages["neighbour"] += found
        if not found:
            break
    return Matching(pairs, stages)


def _neighbour_round(known: Signatures, candidate: Signatures, pairs: dict[int, int], taken: set[int]) -> int:
    free: dict[str, list[int]] = defaultdict(list)
    for index, local in enumerate(known.local):
        if index not in taken:
            free[local].append(index)
    found = 0
    reverse = {k: c for c, k in pairs.items()}
    for index in range(len(candidate.graph.nodes)):
        if index in pairs:
            continue
        options = [k for k in free.get(candidate.local[index], ()) if k not in taken]
        if not options:
            continue
        scored = sorted(
            ((_affinity(known, candidate, pairs, reverse, k, index), k) for k in options), key=lambda s: -s[0]
        )
        best, partner = scored[0]
        if best <= 0 or (len(scored) > 1 and scored[1][0] == best):
            continue  # nothing ties it to a neighbour, or ambiguous
        pairs[index] = partner
        reverse[partner] = index
        taken.add(partner)
        found += 1
    return found


def _affinity(
    known: Signatures, candidate: Signatures, pairs: dict[int, int], reverse: dict[int, int], k: int, c: int
) -> int:
    """How many input slots and consumer edges of candidate node ``c`` correspond to known node ``k``."""
    k_node, c_node = known.graph.nodes[k], candidate.graph.nodes[c]
    score = 0
    for slot, value in enumerate(c_node.inputs):
        if slot < len(k_node.inputs) and _same_source(known, candidate, pairs, k_node.inputs[slot], value):
            score += 1
    for out_slot, name in enumerate(k_node.outputs):
        if out_slot >= len(c_node.outputs):
            break
        known_readers = {reverse.get(r) for r in known.graph.consumers.get(name, ())} - {None}
        cand_readers = set(candidate.graph.consumers.get(c_node.outputs[out_slot], ()))
        score += len(known_readers & cand_readers)
        if known.output_positions.get(name) and known.output_positions.get(
            name
        ) == candidate.output_positions.get(c_node.outputs[out_slot]):
            score += 1
    return score


def _same_source(
    known: Signatures, candidate: Signatures, pairs: dict[int, int], k_value: str, c_value: str
) -> bool:
    return describe_source(known, k_value, pairs=None) == describe_source(candidate, c_value, pairs=pairs)


def describe_source(sig: Signatures, value: str, *, pairs: dict[int, int] | None) -> tuple[object, ...]:
    """Where ``value`` comes from, in known-good terms when ``pairs`` maps candidate nodes to known ones.

    A candidate node without a partner is ``("new-node", index)``, which never equals a known source.
    A constant is known by dtype, shape and name: the tensor diff compares initializers by name, so a
    node that now reads another (same-shaped) initializer must show up here as rewired.
    """
    if not value:
        return ("absent",)
    producer = sig.graph.producer.get(value)
    if producer is not None:
        out = sig.graph.nodes[producer].outputs.index(value)
        if pairs is None:
            return ("node", producer, out)
        partner = pairs.get(producer)
        return ("node", partner, out) if partner is not None else ("new-node", producer, out)
    if value in sig.input_position:
        return ("input", sig.input_position[value])
    constant = sig.graph.constants.get(value)
    if constant is not None:  # by name too: the tensor diff pairs initializers by name
        return ("constant", constant.dtype, constant.shape, value)
    return ("outer",)
