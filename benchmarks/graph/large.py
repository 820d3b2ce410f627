"""A synthetic 100,000-node graph with an L0 backdoor at its end, timed through find_gates and scan.

Both wall-clock and CPU time (``time.process_time``, this process only) are kept: on a shared
machine the wall clock includes the time other jobs hold the core, the CPU time does not.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.findings import Severity
from mlvet.graph import find_gates
from mlvet.redteam import Level, Payload, Trigger, inject
from mlvet.scan import scan_bytes

CHAIN_OPS = ("Add", "Mul", "Relu")


def chain_model(nodes: int) -> onnx.ModelProto:
    """uint8 bytes [1, 32] -> Cast -> ``nodes - 2`` Add/Mul/Relu nodes -> Identity -> logits [1, 32]."""
    body = [helper.make_node("Cast", ["bytes"], ["t0"], to=TensorProto.FLOAT, name="cast")]
    for index in range(1, nodes - 1):
        op = CHAIN_OPS[index % 3]
        inputs = [f"t{index - 1}"] if op == "Relu" else [f"t{index - 1}", "shift" if op == "Add" else "gain"]
        body.append(helper.make_node(op, inputs, [f"t{index}"], name=f"n{index}"))
    body.append(helper.make_node("Identity", [f"t{nodes - 2}"], ["logits"], name="out"))
    graph = helper.make_graph(
        body,
        "chain",
        [helper.make_tensor_value_info("bytes", TensorProto.UINT8, [1, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 32])],
        [
            numpy_helper.from_array(np.array(0.001, np.float32), "shift"),
            numpy_helper.from_array(np.array(0.999, np.float32), "gain"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def measure(nodes: int = 100_000, repeat: int = 3) -> dict[str, Any]:
    """Build the chain with an L0 byte-trigger backdoor; time ``find_gates`` and ``scan_bytes``."""
    clean = chain_model(nodes - 11)  # the L0 injector adds 11 nodes for a 4-byte trigger
    model = inject(clean, trigger=Trigger.of_bytes(b"AI_E"), payload=Payload.constant(1.0), level=Level.L0)
    data = model.SerializeToString()
    gate_times, scan_times, gate_cpu, scan_cpu = [], [], [], []
    gates: list[Any] = []
    rules: list[str] = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        gates = find_gates(data)
        gate_times.append(time.perf_counter() - start)
        gate_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        report = scan_bytes(data, "chain_100k.onnx")
        scan_times.append(time.perf_counter() - start)
        scan_cpu.append(time.process_time() - cpu)
        rules = sorted({f.rule.id for f in report.findings if f.severity >= Severity.HIGH})
    return {
        "nodes": len(model.graph.node),
        "bytes": len(data),
        "repeat": repeat,
        "find_gates_seconds": [round(t, 4) for t in gate_times],
        "scan_bytes_seconds": [round(t, 4) for t in scan_times],
        "find_gates_median": round(statistics.median(gate_times), 4),
        "scan_bytes_median": round(statistics.median(scan_times), 4),
        "find_gates_cpu_seconds": [round(t, 4) for t in gate_cpu],
        "scan_bytes_cpu_seconds": [round(t, 4) for t in scan_cpu],
        "find_gates_cpu_median": round(statistics.median(gate_cpu), 4),
        "scan_bytes_cpu_median": round(statistics.median(scan_cpu), 4),
        "gates_found": len(gates),
        "scan_rules_high": rules,
    }
