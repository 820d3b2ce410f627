"""Keras (.keras and .h5), TensorFlow SavedModel / GraphDef and ONNX samples.

Malicious samples are crafted: Keras configs as JSON in zips or HDF5 attributes, TensorFlow graphs
with the ``tensorboard.compat.proto`` message classes (real protobuf encoding, no TensorFlow), ONNX
models with ``onnx.helper``. Every payload is harmless even if it ran (``lambda x: x`` bytecode,
``os.system("true")``-style names that are never called). Benign samples are written by Keras,
torch.onnx, onnx and protobuf themselves.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

from tests.corpus.sample import Sample, benign, malicious

# ---------------------------------------------------------------- Keras configs (crafted JSON)


def _lambda_code(source: str = "lambda x: x") -> str:
    """Keras' encoding of a lambda: base64 of the marshalled code object (compiled, never run)."""
    import marshal

    code = compile(source, "<mlvet-test>", "eval").co_consts[0]
    return base64.encodebytes(marshal.dumps(code)).decode("ascii")


def _layer(class_name: str, config: dict[str, Any], module: str | None = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _dense(name: str, units: int = 2) -> dict[str, Any]:
    return _layer("Dense", {"name": name, "units": units, "activation": "linear", "use_bias": True})


def _lambda_layer(name: str, source: str = "lambda x: x") -> dict[str, Any]:
    code = {
        "class_name": "__lambda__",
        "config": {"code": _lambda_code(source), "defaults": None, "closure": None},
    }
    return _layer("Lambda", {"name": name, "function": code, "arguments": {}})


def _sequential(name: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return _layer("Sequential", {"name": name, "trainable": True, "layers": layers}, module="keras")


def _functional(name: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    config = {"name": name, "trainable": True, "layers": layers, "input_layers": [], "output_layers": []}
    return _layer("Functional", config, module="keras.src.models.functional")


def _write_keras_zip(path: Path, config: dict[str, Any]) -> None:
    """A Keras v3 archive as Keras writes it: config.json, metadata.json, model.weights.h5."""
    import h5py

    weights = io.BytesIO()
    with h5py.File(weights, "w") as handle:
        handle.create_group("layers")
    metadata = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    members = [("metadata.json", json.dumps(metadata).encode()), ("config.json", json.dumps(config).encode())]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in [*members, ("model.weights.h5", weights.getvalue())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)


def _write_h5_model(
    path: Path, model_config: dict[str, Any], training_config: dict[str, Any] | None = None
) -> None:
    """A Keras 2 style .h5 model: JSON configs in root attributes, weights in ``model_weights``."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "2.12.0"
        handle.attrs["backend"] = "tensorflow"
        handle.attrs["model_config"] = json.dumps(model_config)
        if training_config is not None:
            handle.attrs["training_config"] = json.dumps(training_config)
        handle.create_group("model_weights").create_dataset("dense/kernel:0", data=np.zeros((2, 2), "f4"))


@malicious(
    "keras/lambda_top_level.keras",
    "MLV301",
    "Lambda layer with marshalled bytecode at the top level (CVE-2024-3660)",
)
def _keras_lambda_top(path: Path) -> None:
    _write_keras_zip(
        path, _sequential("seq", [_dense("d"), _lambda_layer("run_me", "lambda x: print('mlvet-test') or x")])
    )


@malicious(
    "keras/lambda_nested_functional.keras",
    "MLV301",
    "Lambda in TimeDistributed in a Sequential in a Functional sub-model (missed by top-level-only scanners)",
)
def _keras_lambda_nested(path: Path) -> None:
    wrapped = _layer("TimeDistributed", {"name": "td", "layer": _lambda_layer("hidden")})
    inner = _sequential("inner_seq", [_dense("d1"), wrapped])
    middle = _functional("sub_model", [_dense("d2"), inner])
    _write_keras_zip(path, _functional("outer", [_dense("d3"), middle]))


@malicious("keras/os_system_layer.keras", "MLV302", "layer object naming os.system (CVE-2025-1550)")
def _keras_os_system(path: Path) -> None:
    gadget = {
        "module": "os",
        "class_name": "system",
        "config": {"command": "true"},
        "registered_name": "system",
    }
    _write_keras_zip(path, _sequential("seq", [_dense("d"), gadget]))


@malicious(
    "keras/builtins_exec_function.keras",
    "MLV302",
    "activation serialized as the builtins.exec function (CVE-2025-1550)",
)
def _keras_builtins_exec(path: Path) -> None:
    activation = {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "exec"}
    layer = _layer("Dense", {"name": "d", "units": 2, "activation": activation})
    _write_keras_zip(path, _sequential("seq", [layer]))


@malicious(
    "keras/get_file_gadget.keras", "MLV303", "keras.utils.get_file called from the config (CVE-2025-8747)"
)
def _keras_get_file(path: Path) -> None:
    gadget = _layer(
        "get_file", {"fname": "mlvet-test", "origin": "http://127.0.0.1:9/mlvet-test"}, module="keras.utils"
    )
    _write_keras_zip(path, _sequential("seq", [_dense("d"), gadget]))


@malicious(
    "keras/enable_unsafe_deserialization.keras",
    {"MLV304", "MLV301"},
    "Lambda whose function switches safe mode off before a second Lambda (CVE-2025-9906)",
)
def _keras_unsafe_switch(path: Path) -> None:
    switch = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"}
    first = _layer("Lambda", {"name": "switch", "function": switch, "arguments": {}})
    _write_keras_zip(path, _sequential("seq", [first, _lambda_layer("after")]))


@malicious(
    "keras/torch_module_wrapper.keras",
    "MLV304",
    "TorchModuleWrapper embedding a torch.load pickle (CVE-2025-49655)",
)
def _keras_torch_wrapper(path: Path) -> None:
    pickled_none = base64.b64encode(b"\x80\x02N.").decode("ascii")
    wrapper = _layer(
        "TorchModuleWrapper", {"name": "torch_module", "module": pickled_none, "output_shape": None}
    )
    _write_keras_zip(path, _sequential("seq", [wrapper]))


def _keras2_lambda(name: str) -> dict[str, Any]:
    config = {
        "name": name,
        "function": [_lambda_code(), None, None],
        "function_type": "lambda",
        "module": "__main__",
        "output_shape": None,
        "output_shape_type": "raw",
        "arguments": {},
    }
    return {"class_name": "Lambda", "config": config}


@malicious(
    "keras/lambda_marshal.h5",
    "MLV301",
    "Keras 2 HDF5 model_config with a marshal-bytecode Lambda (CVE-2024-3660)",
)
def _h5_lambda(path: Path) -> None:
    layers = [{"class_name": "Dense", "config": {"name": "d", "units": 2}}, _keras2_lambda("lambda")]
    _write_h5_model(path, {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}})


@malicious(
    "keras/lambda_nested.h5",
    "MLV301",
    "HDF5 model with the Lambda inside a nested Sequential of a Functional model",
)
def _h5_nested_lambda(path: Path) -> None:
    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [_keras2_lambda("deep")]}}
    outer = {
        "class_name": "Functional",
        "config": {"name": "outer", "layers": [{"class_name": "InputLayer", "config": {}}, inner]},
    }
    _write_h5_model(path, outer)


@malicious(
    "keras/training_config_loss.h5",
    "MLV302",
    "training_config whose loss is subprocess.getoutput (CVE-2025-1550 in the compile config)",
)
def _h5_training_loss(path: Path) -> None:
    loss = {
        "module": "subprocess",
        "class_name": "function",
        "config": "getoutput",
        "registered_name": "getoutput",
    }
    model = {
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": [{"class_name": "Dense", "config": {"name": "d"}}]},
    }
    _write_h5_model(path, model, {"loss": loss, "optimizer_config": {"class_name": "Adam", "config": {}}})


# ---------------------------------------------------------------- Keras, written by Keras


def _keras() -> Any:
    """Keras 3 on the torch backend (TensorFlow is not installed), seeded so builds repeat."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    keras.utils.set_random_seed(0)
    return keras


def _tiny_sequential() -> Any:
    keras = _keras()
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )


def _tiny_functional() -> Any:
    keras = _keras()
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(keras.layers.Dropout(0.1)(inner(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(loss="mse", optimizer="adam")
    return model


@benign("keras/benign_sequential.keras", "keras 3 Sequential saved with model.save('.keras')")
def _benign_keras_seq(path: Path) -> None:
    _tiny_sequential().save(path)


@benign(
    "keras/benign_functional_nested.keras",
    "keras 3 Functional model with a nested Sequential, compiled, saved as .keras",
)
def _benign_keras_functional(path: Path) -> None:
    _tiny_functional().save(path)


@benign("keras/benign_sequential.h5", "keras 3 Sequential saved in the legacy .h5 format")
def _benign_h5_seq(path: Path) -> None:
    _tiny_sequential().save(path)


@benign(
    "keras/benign_functional_nested.h5",
    "keras 3 Functional model with a nested sub-model saved as legacy .h5",
)
def _benign_h5_functional(path: Path) -> None:
    _tiny_functional().save(path)


# ---------------------------------------------------------------- TensorFlow (tensorboard protos)


def _node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: Any) -> Any:
    from tensorboard.compat.proto import node_def_pb2

    node = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def _func_attr(name: str) -> Any:
    from tensorboard.compat.proto import attr_value_pb2

    return attr_value_pb2.AttrValue(func=attr_value_pb2.NameAttrList(name=name))


def _string_const(name: str, *values: str) -> Any:
    from tensorboard.compat.proto import attr_value_pb2, tensor_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[v.encode() for v in values])
    return _node(name, "Const", value=attr_value_pb2.AttrValue(tensor=tensor))


def _function(name: str, nodes: list[Any]) -> Any:
    from tensorboard.compat.proto import function_pb2, op_def_pb2

    return function_pb2.FunctionDef(signature=op_def_pb2.OpDef(name=name), node_def=nodes)


def _tf2_saver() -> tuple[list[Any], list[Any], Any]:
    """The saver TF2's tf.saved_model.save writes: graph nodes, library functions, SaverDef."""
    from tensorboard.compat.proto import saver_pb2

    graph = [
        _node("saver_filename", "Placeholder"),
        _node(
            "StatefulPartitionedCall_1",
            "StatefulPartitionedCall",
            ("saver_filename",),
            f=_func_attr("__inference__traced_save_46"),
        ),
        _node(
            "StatefulPartitionedCall_2",
            "StatefulPartitionedCall",
            ("saver_filename",),
            f=_func_attr("__inference__traced_restore_58"),
        ),
    ]
    save = _function(
        "__inference__traced_save_46",
        [
            _node("StaticRegexFullMatch", "StaticRegexFullMatch", ("file_prefix",)),
            _string_const("Const", ".part"),
            _node("StringJoin", "StringJoin", ("file_prefix", "Const:output:0")),
            _node("ShardedFilename", "ShardedFilename", ("StringJoin:output:0",)),
            _string_const(
                "SaveV2/tensor_names", "v/.ATTRIBUTES/VARIABLE_VALUE", "_CHECKPOINTABLE_OBJECT_GRAPH"
            ),
            _node("SaveV2", "SaveV2", ("ShardedFilename:filename:0", "SaveV2/tensor_names:output:0")),
            _node("MergeV2Checkpoints", "MergeV2Checkpoints", ("ShardedFilename:filename:0", "file_prefix")),
        ],
    )
    restore = _function(
        "__inference__traced_restore_58",
        [
            _string_const("RestoreV2/tensor_names", "v/.ATTRIBUTES/VARIABLE_VALUE"),
            _node("RestoreV2", "RestoreV2", ("file_prefix", "RestoreV2/tensor_names:output:0")),
            _node("AssignVariableOp", "AssignVariableOp", ("resource", "RestoreV2:tensors:0")),
        ],
    )
    saver = saver_pb2.SaverDef(
        filename_tensor_name="saver_filename:0",
        save_tensor_name="StatefulPartitionedCall_1:0",
        restore_op_name="StatefulPartitionedCall_2",
        version=saver_pb2.SaverDef.V2,
    )
    return graph, [save, restore], saver


def _write_saved_model(
    path: Path, graph_nodes: list[Any], functions: list[Any], with_saver: bool = True
) -> None:
    """SavedModel{1: schema version 1, 2: MetaGraphDef}; the outer message is written field by field."""
    from tensorboard.compat.proto import function_pb2, graph_pb2, meta_graph_pb2

    saver_nodes, saver_functions, saver = _tf2_saver() if with_saver else ([], [], None)
    graph = graph_pb2.GraphDef(
        node=[_node("serving_default_x", "Placeholder"), *graph_nodes, *saver_nodes],
        library=function_pb2.FunctionDefLibrary(function=[*functions, *saver_functions]),
    )
    meta = meta_graph_pb2.MetaGraphDef(
        meta_info_def=meta_graph_pb2.MetaGraphDef.MetaInfoDef(tags=["serve"], tensorflow_version="2.15.0"),
        graph_def=graph,
    )
    if saver is not None:
        meta.saver_def.CopyFrom(saver)
    body = meta.SerializeToString()
    path.write_bytes(b"\x08\x01\x12" + _varint(len(body)) + body)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@malicious("tf/pyfunc_graph/saved_model.pb", "MLV401", "PyFunc node in the main graph (tf.numpy_function)")
def _tf_pyfunc(path: Path) -> None:
    from tensorboard.compat.proto import attr_value_pb2

    token = attr_value_pb2.AttrValue(s=b"pyfunc_0")
    _write_saved_model(path, [_node("PyFunc", "PyFunc", ("serving_default_x",), token=token)], [])


@malicious(
    "tf/eager_pyfunc_library/saved_model.pb",
    "MLV401",
    "EagerPyFunc inside a library function called by the serving signature",
)
def _tf_eager_pyfunc(path: Path) -> None:
    call = _node(
        "StatefulPartitionedCall",
        "StatefulPartitionedCall",
        ("serving_default_x",),
        f=_func_attr("__inference_call_12"),
    )
    body = _function("__inference_call_12", [_node("EagerPyFunc", "EagerPyFunc", ("x",))])
    _write_saved_model(path, [call], [body])


@malicious(
    "tf/read_write_file/saved_model.pb",
    "MLV402",
    "ReadFile and WriteFile outside the saver, next to a standard TF2 saver",
)
def _tf_file_io(path: Path) -> None:
    body = _function(
        "__inference_call_20",
        [
            _string_const("secret", "/etc/hostname"),
            _node("ReadFile", "ReadFile", ("secret:output:0",)),
            _string_const("target", "/tmp/mlvet-test.txt"),
            _node("WriteFile", "WriteFile", ("target:output:0", "ReadFile:contents:0")),
        ],
    )
    call = _node(
        "StatefulPartitionedCall",
        "StatefulPartitionedCall",
        ("serving_default_x",),
        f=_func_attr("__inference_call_20"),
    )
    _write_saved_model(path, [call], [body])


@malicious(
    "tf/savev2_outside_saver/saved_model.pb",
    "MLV402",
    "SaveV2 in the serving graph, outside the saver, writing to a fixed path",
)
def _tf_save_outside(path: Path) -> None:
    nodes = [
        _string_const("dump_prefix", "/tmp/mlvet-test/ckpt"),
        _string_const("names", "x"),
        _node("SaveV2", "SaveV2", ("dump_prefix", "names", "names", "serving_default_x")),
    ]
    _write_saved_model(path, nodes, [])


@malicious(
    "tf/frozen_graph_pyfunc.pb",
    "MLV401",
    "frozen GraphDef (no SavedModel wrapper) with a PyFuncStateless node",
)
def _tf_frozen(path: Path) -> None:
    from tensorboard.compat.proto import graph_pb2, versions_pb2

    graph = graph_pb2.GraphDef(
        node=[_node("x", "Placeholder"), _node("callback", "PyFuncStateless", ("x",))],
        versions=versions_pb2.VersionDef(producer=1087),
    )
    path.write_bytes(graph.SerializeToString())


@malicious(
    "tf/keras_metadata_lambda/keras_metadata.pb",
    "MLV301",
    "Keras 2 SavedModel metadata whose Lambda layer carries bytecode",
)
def _tf_keras_metadata(path: Path) -> None:
    from tensorboard.compat.proto import versions_pb2

    lambda_json = json.dumps(
        {"name": "lambda", "class_name": "Lambda", "config": _keras2_lambda("lambda")["config"]}
    )
    root_json = json.dumps(
        {"name": "seq", "class_name": "Sequential", "config": {"name": "seq", "layers": []}}
    )
    version = versions_pb2.VersionDef(producer=2, min_consumer=1).SerializeToString()
    out = bytearray()
    for node_id, (node_path, identifier, metadata) in enumerate(
        [("root", "_tf_keras_sequential", root_json), ("root.layer-0", "_tf_keras_layer", lambda_json)]
    ):
        node = b"".join(
            [
                b"\x10" + _varint(node_id),
                _field(3, node_path.encode()),
                _field(4, identifier.encode()),
                _field(5, metadata.encode()),
                _field(6, version),
            ]
        )
        out += _field(1, node)
    path.write_bytes(bytes(out))


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@benign(
    "tf/benign_tf2_saver/saved_model.pb",
    "SavedModel with TF2's standard saver (SaveV2/RestoreV2/MergeV2Checkpoints in saver functions)",
)
def _tf_benign_tf2(path: Path) -> None:
    from tensorboard.compat.proto import attr_value_pb2

    read = _node("mul/ReadVariableOp", "ReadVariableOp", ("resource",))
    body = _function(
        "__inference___call___10", [read, _node("mul", "Mul", ("x", "mul/ReadVariableOp:value:0"))]
    )
    call = _node(
        "StatefulPartitionedCall",
        "StatefulPartitionedCall",
        ("serving_default_x",),
        f=_func_attr("__inference___call___10"),
    )
    variable = _node("Variable", "VarHandleOp", shared_name=attr_value_pb2.AttrValue(s=b"Variable"))
    _write_saved_model(path, [variable, call], [body])


@benign(
    "tf/benign_tf1_saver/saved_model.pb",
    "TF1-style SavedModel whose save/ scope holds SaveV2, RestoreV2 and MergeV2Checkpoints",
)
def _tf_benign_tf1(path: Path) -> None:
    from tensorboard.compat.proto import function_pb2, graph_pb2, meta_graph_pb2, saver_pb2

    nodes = [
        _node("x", "Placeholder"),
        _node("v", "VarHandleOp"),
        _node("mul", "Mul", ("x", "v")),
        _string_const("save/filename/input", "model"),
        _node("save/Const", "PlaceholderWithDefault", ("save/filename/input",)),
        _node("save/ShardedFilename", "ShardedFilename", ("save/Const",)),
        _string_const("save/SaveV2/tensor_names", "v"),
        _node("save/SaveV2", "SaveV2", ("save/ShardedFilename", "save/SaveV2/tensor_names")),
        _node("save/MergeV2Checkpoints", "MergeV2Checkpoints", ("save/ShardedFilename", "save/Const")),
        _node("save/Identity", "Identity", ("save/Const",)),
        _node("save/RestoreV2", "RestoreV2", ("save/Const", "save/SaveV2/tensor_names")),
        _node("save/restore_all", "NoOp", ("^save/RestoreV2",)),
    ]
    meta = meta_graph_pb2.MetaGraphDef(
        graph_def=graph_pb2.GraphDef(node=nodes, library=function_pb2.FunctionDefLibrary()),
        saver_def=saver_pb2.SaverDef(
            filename_tensor_name="save/Const:0",
            save_tensor_name="save/Identity:0",
            restore_op_name="save/restore_all",
        ),
    )
    body = meta.SerializeToString()
    path.write_bytes(b"\x08\x01\x12" + _varint(len(body)) + body)


# ---------------------------------------------------------------- ONNX


def _onnx_model(nodes: list[Any], initializers: list[Any] = (), **kwargs: Any) -> Any:  # type: ignore[assignment]
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=list(initializers),
    )
    opsets = kwargs.pop("opsets", [helper.make_opsetid("", 17)])
    return helper.make_model(graph, opset_imports=opsets, **kwargs)


def _external_tensor(name: str, location: str) -> Any:
    from onnx import TensorProto, helper

    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _save(model: Any, path: Path) -> None:
    path.write_bytes(model.SerializeToString())


@malicious(
    "onnx/pyop_contrib.onnx", "MLV451", "onnxruntime-extensions / language-interop PyOp naming os.system"
)
def _onnx_pyop(path: Path) -> None:
    from onnx import helper

    node = helper.make_node(
        "PyOp", ["x"], ["y"], domain="ai.onnx.contrib", module="os", class_name="system", compute="true"
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)]
    _save(_onnx_model([node], opsets=opsets), path)


@malicious(
    "onnx/external_traversal.onnx",
    "MLV452",
    "initializer whose external data location climbs out with ../ (CVE-2024-27318)",
)
def _onnx_traversal(path: Path) -> None:
    from onnx import helper

    add = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_onnx_model([add], [_external_tensor("w", "../../etc/passwd")]), path)


@malicious(
    "onnx/external_absolute.onnx",
    "MLV452",
    "initializer whose external data location is an absolute path (CVE-2025-51480)",
)
def _onnx_absolute(path: Path) -> None:
    from onnx import helper

    add = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_onnx_model([add], [_external_tensor("w", "/etc/passwd")]), path)


@malicious("onnx/symlink_escape", "MLV452", "external data file that is a symlink out of the model directory")
def _onnx_symlink(path: Path) -> None:
    from onnx import helper

    (path / "model").mkdir(parents=True)
    (path / "outside").mkdir()
    (path / "outside" / "secret.txt").write_text("mlvet-test secret\n")
    (path / "model" / "weights.bin").symlink_to(Path("..") / "outside" / "secret.txt")
    add = helper.make_node("Add", ["x", "w"], ["y"])
    _save(_onnx_model([add], [_external_tensor("w", "weights.bin")]), path / "model" / "model.onnx")


@malicious(
    "onnx/if_subgraph_escape.onnx",
    "MLV452",
    "escaping external data hidden in a Constant inside an If branch",
)
def _onnx_if_escape(path: Path) -> None:
    from onnx import TensorProto, helper

    def branch(name: str, tensor: Any) -> Any:
        const = helper.make_node("Constant", [], [f"{name}_out"], value=tensor)
        output = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2])
        return helper.make_graph([const], name, [], [output])

    plain = helper.make_tensor("c", TensorProto.FLOAT, [2], [1.0, 1.0])
    cond = helper.make_node(
        "Constant", [], ["cond"], value=helper.make_tensor("b", TensorProto.BOOL, [], [True])
    )
    node = helper.make_node(
        "If",
        ["cond"],
        ["y"],
        then_branch=branch("then", _external_tensor("c", "../../../home/user/.ssh/id_rsa")),
        else_branch=branch("else", plain),
    )
    _save(_onnx_model([cond, node]), path)


@malicious(
    "onnx/sparse_initializer_escape.onnx",
    "MLV452",
    "sparse initializer whose values live in an absolute external file",
)
def _onnx_sparse(path: Path) -> None:
    from onnx import TensorProto, helper

    indices = helper.make_tensor("w_idx", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(_external_tensor("w_values", "C:\\Windows\\win.ini"), indices, [2])
    model = _onnx_model([helper.make_node("Add", ["x", "w_values"], ["y"])])
    model.graph.sparse_initializer.append(sparse)
    _save(model, path)


@benign("onnx/benign_torch_mlp.onnx", "tiny MLP exported with torch.onnx.export (TorchScript exporter)")
def _onnx_torch(path: Path) -> None:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    torch.onnx.export(model, (torch.zeros(1, 4),), str(path), dynamo=False)


@benign("onnx/benign_contrib_ops.onnx", "onnx.helper model using onnxruntime com.microsoft contrib ops")
def _onnx_contrib(path: Path) -> None:
    from onnx import helper

    gelu = helper.make_node("Gelu", ["x"], ["g"], domain="com.microsoft")
    fused = helper.make_node("FusedMatMul", ["g", "g"], ["y"], domain="com.microsoft", alpha=1.0)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    _save(_onnx_model([gelu, fused], opsets=opsets), path)


@benign(
    "onnx/benign_external_data",
    "model saved by onnx.save_model with its weights in an external file beside it",
)
def _onnx_external(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    path.mkdir()
    weight = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    model = _onnx_model([helper.make_node("Add", ["x", "w"], ["y"])], [weight])
    onnx.save_model(
        model,
        str(path / "model.onnx"),
        save_as_external_data=True,
        location="model.onnx.data",
        size_threshold=0,
    )


def _copy_light_model(name: str) -> Sample:
    @benign(f"onnx/{name}", f"real model shipped with the onnx package (onnx/backend/test/data/light/{name})")
    def build(path: Path) -> None:
        import onnx

        shutil.copyfile(Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / name, path)

    return build


SAMPLES: list[Sample] = [
    _keras_lambda_top,
    _keras_lambda_nested,
    _keras_os_system,
    _keras_builtins_exec,
    _keras_get_file,
    _keras_unsafe_switch,
    _keras_torch_wrapper,
    _h5_lambda,
    _h5_nested_lambda,
    _h5_training_loss,
    _benign_keras_seq,
    _benign_keras_functional,
    _benign_h5_seq,
    _benign_h5_functional,
    _tf_pyfunc,
    _tf_eager_pyfunc,
    _tf_file_io,
    _tf_save_outside,
    _tf_frozen,
    _tf_keras_metadata,
    _tf_benign_tf2,
    _tf_benign_tf1,
    _onnx_pyop,
    _onnx_traversal,
    _onnx_absolute,
    _onnx_symlink,
    _onnx_if_escape,
    _onnx_sparse,
    _onnx_torch,
    _onnx_contrib,
    _onnx_external,
    _copy_light_model("light_squeezenet.onnx"),
    _copy_light_model("light_bvlc_alexnet.onnx"),
    _copy_light_model("light_zfnet512.onnx"),
]
