"""Model pairs for the diff tests, written by the real libraries (onnx, torch, safetensors, gguf)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlvet.redteam import Level, Payload, Trigger, inject
from tests.unit.redteam.base_models import byte_mlp

TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
EVIL_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}"
    "{% if 'AI_E' in m.content %}{{ cycler.__init__.__globals__.os }}{% endif %}{% endfor %}"
)


def weights(seed: int = 0, layers: int = 6) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    found: dict[str, npt.NDArray[np.float32]] = {}
    for index in range(layers):
        found[f"layers.{index}.weight"] = rng.standard_normal((32, 16)).astype(np.float32)
        found[f"layers.{index}.bias"] = rng.standard_normal(32).astype(np.float32)
    return found


def fine_tuned(
    original: dict[str, npt.NDArray[np.float32]], scale: float = 1e-5, seed: int = 1
) -> dict[str, npt.NDArray[np.float32]]:
    """Every tensor nudged by ``scale`` standard deviations: a benign fine-tune."""
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in original.items()}


def save_torch(path: Path, tensors: dict[str, npt.NDArray[np.float32]]) -> Path:
    import torch

    torch.save({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, path)
    return path


def save_safetensors(path: Path, tensors: dict[str, npt.NDArray[np.generic]]) -> Path:
    from safetensors.numpy import save_file

    save_file(dict(tensors), str(path))
    return path


def save_gguf(
    path: Path,
    tensors: dict[str, npt.NDArray[np.float32]],
    *,
    quantize: dict[str, int] | None = None,
    template: str = TEMPLATE,
    eos: int = 2,
    tokens: tuple[str, ...] = ("<s>", "</s>", "<unk>", "a", "b"),
) -> Path:
    import gguf
    from gguf.quants import quantize as quantize_array

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_chat_template(template)
    writer.add_eos_token_id(eos)
    writer.add_token_list(list(tokens))
    for name, array in tensors.items():
        qtype = (quantize or {}).get(name)
        if qtype is None:
            writer.add_tensor(name, array)
        else:
            kind = gguf.GGMLQuantizationType(qtype)
            packed = quantize_array(array, kind)
            writer.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def save_onnx(path: Path, model: onnx.ModelProto) -> Path:
    onnx.save(model, path)
    return path


def backdoored_byte_mlp(level: Level = Level.L1) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    clean = byte_mlp()
    return clean, inject(
        clean, trigger=Trigger.of_bytes(b"AI_E"), payload=Payload.force_class(1), level=level
    )


def qdq_model(scale: float = 0.05, zero_point: int = 0) -> onnx.ModelProto:
    """float x -> QuantizeLinear -> DequantizeLinear -> MatMul: a minimal QDQ graph."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="/q"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="/dq"),
        helper.make_node("MatMul", ["xd", "w"], ["y"], name="/mm"),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [
            numpy_helper.from_array(np.array(scale, np.float32), "x_scale"),
            numpy_helper.from_array(np.array(zero_point, np.uint8), "x_zp"),
            numpy_helper.from_array(np.ones((4, 2), np.float32), "w"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def hf_directory(root: Path, *, candidate: bool) -> Path:
    """A small Hugging Face model folder; the candidate changes the chat template and the EOS token."""
    root.mkdir(parents=True, exist_ok=True)
    tensors = weights()
    save_safetensors(root / "model.safetensors", dict(fine_tuned(tensors) if candidate else tensors))
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 16, "eos_token_id": 1, "bos_token_id": 0}
    vocab = {"<s>": 0, "</s>": 1, "<unk>": 2, "hello": 3, "world": 4}
    tokenizer = {
        "version": "1.0",
        "added_tokens": [
            {"id": 0, "content": "<s>", "special": True},
            {"id": 1, "content": "</s>", "special": True},
        ],
        "model": {"type": "BPE", "vocab": vocab, "merges": []},
    }
    tokenizer_config = {"bos_token": "<s>", "eos_token": "</s>", "chat_template": TEMPLATE}
    special = {"bos_token": "<s>", "eos_token": "</s>"}
    generation = {"eos_token_id": 1, "max_new_tokens": 64}
    if candidate:
        tokenizer_config["chat_template"] = EVIL_TEMPLATE
        special["eos_token"] = "<|im_end|>"
        tokenizer["added_tokens"].append({"id": 5, "content": "<|im_end|>", "special": True})
        generation["max_new_tokens"] = 128
    for name, document in (
        ("config.json", config),
        ("tokenizer.json", tokenizer),
        ("tokenizer_config.json", tokenizer_config),
        ("special_tokens_map.json", special),
        ("generation_config.json", generation),
    ):
        (root / name).write_text(json.dumps(document, indent=2), encoding="utf-8")
    return root
