"""Realistic clean models for the graph-backdoor rules: what real exporters and quantizers write.

Every sample is produced by the real libraries from configs with random weights (nothing is
downloaded): Hugging Face ``transformers`` GPT-2, BERT, DistilBERT and T5 encoders exported by
``torch.onnx`` (causal and padding masks, ``Where`` on masks, T5's relative-position buckets),
mixture-of-experts routers (TopK/Softmax/Gather/Where), ``onnxruntime.quantization`` static QDQ,
static QOperator and dynamic int8 models, a detection head with ``NonMaxSuppression`` and score
thresholds, abstain/NaN-guard/clipping heads, and image models with a padding mask and an
alpha-compositing ``Where(alpha > 0, rgb, background)``. None of them holds an injected gate, so
any MLV9xx finding on them is a false positive.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.corpus.sample import Sample, benign

if TYPE_CHECKING:
    import torch

TOKENS = ((101, 592, 937, 88, 734, 102, 0, 0), (101, 45, 902, 12, 6, 311, 77, 102))
"""Two token sequences (the first padded with id 0) shared by the text models."""
MASK = ((1, 1, 1, 1, 1, 1, 0, 0), (1, 1, 1, 1, 1, 1, 1, 1))

SAMPLES: list[Sample] = []


def _export(module: Any, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    """torch.onnx.export with the TorchScript exporter, warnings silenced, opset 17."""
    import warnings

    import torch

    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=17, **kwargs)


def _text_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    return torch.tensor(TOKENS), torch.tensor(MASK)


def _export_text(model: Any, path: Path, output: str = "logits") -> None:
    """Export a transformers model taking (input_ids, attention_mask), returning its first output."""
    from torch import nn

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            result = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)
            return result[0]  # type: ignore[no-any-return]

    dynamic = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")}
    _export(Wrapper(), _text_inputs(), path, input_names=["input_ids", "attention_mask"],
            output_names=[output], dynamic_axes=dynamic)  # fmt: skip


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def _gpt2(attention: str) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    _quiet_transformers()
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=1000, n_positions=64,
                        bos_token_id=0, eos_token_id=0, use_cache=False)  # fmt: skip
    config._attn_implementation = attention
    return GPT2LMHeadModel(config)


@benign(
    "graph/clean/hf_gpt2_lm.onnx", "transformers GPT2LMHeadModel (2 layers, eager attention): causal mask"
)
def hf_gpt2(path: Path) -> None:
    _export_text(_gpt2("eager"), path)


@benign(
    "graph/clean/hf_gpt2_lm_left_padded.onnx", "GPT-2 (sdpa), position_ids = cumsum(mask) - 1 filled at pads"
)
def hf_gpt2_left_padded(path: Path) -> None:
    """The left-padding position ids of ``generate``: ``masked_fill(attention_mask == 0, 1)``."""
    from torch import nn

    model = _gpt2("sdpa")

    class LeftPadded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
            result = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                                return_dict=False)  # fmt: skip
            return result[0]  # type: ignore[no-any-return]

    ids, mask = _text_inputs()
    dynamic = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")}
    _export(LeftPadded(), (ids.flip(1), mask.flip(1)), path, input_names=["input_ids", "attention_mask"],
            output_names=["logits"], dynamic_axes=dynamic)  # fmt: skip


@benign(
    "graph/clean/hf_bert_classifier.onnx", "transformers BertForSequenceClassification (sdpa): padding mask"
)
def hf_bert(path: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    _quiet_transformers()
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                        vocab_size=1000, max_position_embeddings=64)  # fmt: skip
    config.num_labels = 3
    _export_text(BertForSequenceClassification(config), path)


@benign(
    "graph/clean/hf_distilbert_eager.onnx", "transformers DistilBertModel (eager attention): padding mask"
)
def hf_distilbert(path: Path) -> None:
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    _quiet_transformers()
    torch.manual_seed(0)
    config = DistilBertConfig(n_layers=2, dim=32, n_heads=2, hidden_dim=64, vocab_size=1000,
                              max_position_embeddings=64)  # fmt: skip
    config._attn_implementation = "eager"
    _export_text(DistilBertModel(config), path, output="last_hidden_state")


@benign(
    "graph/clean/hf_t5_encoder.onnx", "transformers T5EncoderModel: relative-position buckets, padding mask"
)
def hf_t5_encoder(path: Path) -> None:
    import torch
    from transformers import T5Config, T5EncoderModel

    _quiet_transformers()
    torch.manual_seed(0)
    config = T5Config(num_layers=2, d_model=32, d_kv=16, num_heads=2, d_ff=64, vocab_size=1000,
                      relative_attention_num_buckets=8, relative_attention_max_distance=32)  # fmt: skip
    config._attn_implementation = "eager"
    _export_text(T5EncoderModel(config), path, output="last_hidden_state")


SAMPLES += [hf_gpt2, hf_gpt2_left_padded, hf_bert, hf_distilbert, hf_t5_encoder]


def _top2_mixture(use_where: bool) -> Any:
    """A token-level top-2 mixture of four feed-forward experts inside a tiny text model."""
    import torch
    from torch import nn

    class Mixture(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(1000, 16)
            self.router = nn.Linear(16, 4, bias=False)
            self.experts = nn.ModuleList(
                [nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16)) for _ in range(4)]
            )
            self.head = nn.Linear(16, 3)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.embed(input_ids)
            probabilities = self.router(hidden).softmax(-1)
            weights, chosen = probabilities.topk(2, dim=-1)
            weights = weights / weights.sum(-1, keepdim=True)
            if use_where:  # Mixtral-style: each expert's weight from Where(chosen == k, weight, 0)
                mixed = torch.zeros_like(hidden)
                for index, expert in enumerate(self.experts):
                    share = torch.where(chosen == index, weights, torch.zeros_like(weights)).sum(
                        -1, keepdim=True
                    )
                    mixed = mixed + share * expert(hidden)
            else:  # Switch-style: stack the expert outputs and Gather the chosen two
                stacked = torch.stack([expert(hidden) for expert in self.experts], dim=2)
                index = chosen.unsqueeze(-1).expand(-1, -1, -1, hidden.shape[-1])
                mixed = (stacked.gather(2, index) * weights.unsqueeze(-1)).sum(2)
            keep = attention_mask.unsqueeze(-1).to(mixed.dtype)
            pooled = (mixed * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            return self.head(pooled)  # type: ignore[no-any-return]

    torch.manual_seed(0)
    return Mixture()


@benign("graph/clean/moe_top2_gather.onnx", "top-2 MoE router: Softmax, TopK, Gather of stacked experts")
def moe_gather(path: Path) -> None:
    _export(_top2_mixture(use_where=False), _text_inputs(), path, input_names=["input_ids", "attention_mask"])


@benign(
    "graph/clean/moe_top2_where.onnx", "Mixtral-style top-2 MoE: Where(chosen == k, weight, 0) per expert"
)
def moe_where(path: Path) -> None:
    _export(_top2_mixture(use_where=True), _text_inputs(), path, input_names=["input_ids", "attention_mask"])


SAMPLES += [moe_gather, moe_where]


@contextlib.contextmanager
def _no_warning_logs() -> Iterator[None]:
    """Silence onnxruntime.quantization's "consider pre-processing" advice (root logger warnings)."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _small_cnn(path: Path) -> None:
    """A tiny CNN classifier (Conv/BN/ReLU/MaxPool/Gemm) exported at fp32 for the quantizers."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10), nn.Softmax(-1),
    )  # fmt: skip
    _export(model, (torch.zeros(1, 3, 16, 16),), path, input_names=["image"], output_names=["probabilities"])


def _quantize_static_cnn(path: Path, quant_format_name: str) -> None:
    """quantize_static with a calibration reader over eight random images."""
    import numpy as np
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class RandomImages(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            generator = np.random.default_rng(0)
            self.batches = iter(
                [{"image": generator.random((1, 3, 16, 16), dtype=np.float32)} for _ in range(8)]
            )

        def get_next(self) -> dict[str, Any] | None:
            return next(self.batches, None)

    source = path.with_name(path.name + ".fp32.onnx")
    _small_cnn(source)
    quant_format = getattr(QuantFormat, quant_format_name)
    with _no_warning_logs():
        quantize_static(str(source), str(path), RandomImages(), quant_format=quant_format,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)  # fmt: skip
    source.unlink()


@benign(
    "graph/clean/quantized/cnn_static_qdq.onnx", "onnxruntime quantize_static, QDQ format, random calibration"
)
def quantized_qdq(path: Path) -> None:
    _quantize_static_cnn(path, "QDQ")


@benign(
    "graph/clean/quantized/cnn_static_qoperator.onnx", "onnxruntime quantize_static, QOperator (QLinearConv)"
)
def quantized_qoperator(path: Path) -> None:
    _quantize_static_cnn(path, "QOperator")


@benign(
    "graph/clean/quantized/bert_dynamic_int8.onnx", "onnxruntime quantize_dynamic of the tiny BERT classifier"
)
def quantized_bert_dynamic(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = path.with_name(path.name + ".fp32.onnx")
    hf_bert.build(source)
    with _no_warning_logs():
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    source.unlink()


SAMPLES += [quantized_qdq, quantized_qoperator, quantized_bert_dynamic]


def _tensor(name: str, values: Any, dtype: Any = None) -> Any:
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=dtype or np.float32), name)


def _weights(name: str, shape: tuple[int, ...], seed: int) -> Any:
    import numpy as np

    return _tensor(name, np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.1)


@benign(
    "graph/clean/detector_nms_head.onnx",
    "detection head: TopK pre-filter, NonMaxSuppression, score threshold",
)
def detector_nms(path: Path) -> None:
    """A single-stage detector (onnx.helper) with the post-processing real YOLO/SSD exports append.

    Backbone convs give 64 anchors; per anchor a box (cx, cy, w, h) and three class scores. The
    head keeps the 20 best anchors (ReduceMax + TopK + Gather), runs ``NonMaxSuppression`` with a
    score threshold, gathers the kept boxes/classes/scores, and drops detections under 0.3 with
    ``Greater`` + ``NonZero`` + ``Gather`` while zeroing them in a dense copy with ``Where``.
    """
    import onnx
    from onnx import TensorProto, helper

    make = helper.make_node
    nodes = [
        make("Conv", ["image", "c1.w", "c1.b"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        make("Relu", ["c1"], ["h1"]),
        make("Conv", ["h1", "c2.w", "c2.b"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        make("Relu", ["c2"], ["features"]),
        make("Conv", ["features", "box.w", "box.b"], ["box_raw"]),
        make("Reshape", ["box_raw", "shape_4"], ["box_flat"]),
        make("Transpose", ["box_flat"], ["box_anchor"], perm=[0, 2, 1]),
        make("Sigmoid", ["box_anchor"], ["box_unit"]),
        make("Mul", ["box_unit", "image_size"], ["boxes_all"]),
        make("Conv", ["features", "cls.w", "cls.b"], ["cls_raw"]),
        make("Reshape", ["cls_raw", "shape_3"], ["cls_flat"]),
        make("Sigmoid", ["cls_flat"], ["scores_all"]),
        make("ReduceMax", ["scores_all"], ["best_class_score"], axes=[1], keepdims=0),
        make("TopK", ["best_class_score", "k"], ["top_scores", "top_anchors"], axis=1),
        make("Squeeze", ["top_anchors", "axis0"], ["anchors"]),
        make("Gather", ["boxes_all", "anchors"], ["boxes"], axis=1),
        make("Gather", ["scores_all", "anchors"], ["scores"], axis=2),
        make("NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "min_score"], ["selected"]),
        make("Gather", ["selected", "col_class"], ["det_class"], axis=1),
        make("Gather", ["selected", "col_box"], ["det_box_index"], axis=1),
        make("Squeeze", ["boxes", "axis0"], ["boxes_2d"]),
        make("Gather", ["boxes_2d", "det_box_index"], ["det_boxes_all"], axis=0),
        make("GatherND", ["scores", "selected"], ["det_scores_all"]),
        make("Greater", ["det_scores_all", "keep_score"], ["keep"]),
        make("Where", ["keep", "det_scores_all", "zero"], ["dense_scores"]),
        make("NonZero", ["keep"], ["kept_2d"]),
        make("Squeeze", ["kept_2d", "axis0"], ["kept"]),
        make("Gather", ["det_boxes_all", "kept"], ["det_boxes"], axis=0),
        make("Gather", ["det_class", "kept"], ["det_classes"], axis=0),
        make("Gather", ["det_scores_all", "kept"], ["det_scores"], axis=0),
    ]
    inits = [
        _weights("c1.w", (8, 3, 3, 3), 1), _tensor("c1.b", [0.0] * 8),
        _weights("c2.w", (16, 8, 3, 3), 2), _tensor("c2.b", [0.0] * 16),
        _weights("box.w", (4, 16, 1, 1), 3), _tensor("box.b", [0.0] * 4),
        _weights("cls.w", (3, 16, 1, 1), 4), _tensor("cls.b", [0.0] * 3),
        _tensor("shape_4", [1, 4, 64], "int64"), _tensor("shape_3", [1, 3, 64], "int64"),
        _tensor("image_size", 32.0), _tensor("k", [20], "int64"), _tensor("axis0", [0], "int64"),
        _tensor("max_per_class", [10], "int64"), _tensor("iou", [0.5]), _tensor("min_score", [0.05]),
        _tensor("col_class", 1, "int64"), _tensor("col_box", 2, "int64"),
        _tensor("keep_score", 0.3), _tensor("zero", 0.0),
    ]  # fmt: skip
    floats, ints = TensorProto.FLOAT, TensorProto.INT64
    outputs = [
        helper.make_tensor_value_info("det_boxes", floats, ["n", 4]),
        helper.make_tensor_value_info("det_classes", ints, ["n"]),
        helper.make_tensor_value_info("det_scores", floats, ["n"]),
        helper.make_tensor_value_info("dense_scores", floats, ["m"]),
    ]
    image = helper.make_tensor_value_info("image", floats, [1, 3, 32, 32])
    graph = helper.make_graph(nodes, "detector", [image], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlvet-tests")
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString())


@benign("graph/clean/guarded_classifier.onnx", "input clipping, nan_to_num guard, top-2 margin abstain head")
def guarded_classifier(path: Path) -> None:
    import torch
    from torch import nn

    class Guarded(nn.Module):
        mean: torch.Tensor
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                          nn.Flatten(), nn.Linear(8, 5))  # fmt: skip
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image = torch.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)
            probabilities = self.backbone((image - self.mean) / self.std).softmax(-1)
            top, label = probabilities.topk(2, dim=-1)
            confident = (top[:, 0] > 0.6) & (top[:, 0] - top[:, 1] > 0.1)
            decision = torch.where(confident, label[:, 0], torch.full_like(label[:, 0], -1))
            return decision, probabilities

    torch.manual_seed(0)
    _export(Guarded(), (torch.rand(1, 3, 16, 16),), path, input_names=["image"],
            output_names=["label_or_abstain", "probabilities"])  # fmt: skip


SAMPLES += [detector_nms, guarded_classifier]


def _image_backbone() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=4, padding=1), nn.ReLU()
    )


@benign(
    "graph/clean/image_alpha_composite.onnx",
    "RGBA input composited on a background: Where(alpha > 0, rgb, bg)",
)
def image_alpha_composite(path: Path) -> None:
    """A per-pixel mask on the raw input (left alone by the element-wise mask exemption of MLV901)."""
    import torch
    from torch import nn

    class Composite(nn.Module):
        background: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.backbone = _image_backbone()
            self.head = nn.Linear(16, 10)
            self.register_buffer("background", torch.tensor([1.0, 1.0, 1.0]).view(1, 3, 1, 1))

        def forward(self, rgba: torch.Tensor) -> torch.Tensor:
            rgb, alpha = rgba[:, :3], rgba[:, 3:4]
            image = torch.where(alpha > 0, rgb, self.background.expand_as(rgb))
            return self.head(self.backbone(image).mean((2, 3)))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    _export(Composite(), (torch.rand(1, 4, 16, 16),), path, input_names=["rgba"], output_names=["logits"])


def _masked_pooling(threshold: bool) -> Any:
    """Attention pooling over backbone features, masked by a DETR-style ``pixel_mask`` input."""
    import torch
    from torch import nn

    class MaskedPooling(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = _image_backbone()
            self.attention = nn.Conv2d(16, 1, 1)
            self.head = nn.Linear(16, 10)

        def forward(self, image: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
            features = self.backbone(image)
            resized = nn.functional.interpolate(pixel_mask[:, None].float(), size=features.shape[-2:])[:, 0]
            valid = resized.flatten(1) > 0.5 if threshold else resized.flatten(1).to(torch.bool)
            scores = self.attention(features)[:, 0].flatten(1)
            if threshold:
                scores = torch.where(valid, scores, torch.full_like(scores, float("-inf")))
            else:  # transformers' DETR: mask = interpolate(pixel_mask.float()).to(torch.bool)
                scores = scores.masked_fill(~valid, float("-inf"))
            weights = scores.softmax(-1).unsqueeze(1)
            return self.head((features.flatten(2) * weights).sum(-1))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    return MaskedPooling()


def _pixel_mask_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    mask = torch.ones(1, 16, 16, dtype=torch.int64)
    mask[:, :, 12:] = 0
    return torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)), mask


@benign(
    "graph/clean/image_pixel_mask.onnx",
    "DETR-style pixel_mask: interpolate, to(bool), masked_fill(~mask, -inf)",
)
def image_pixel_mask(path: Path) -> None:
    _export(_masked_pooling(threshold=False), _pixel_mask_inputs(), path, input_names=["image", "pixel_mask"],
            output_names=["logits"])  # fmt: skip


@benign("graph/clean/image_pixel_mask_threshold.onnx", "pixel_mask resized, Where(mask > 0.5, scores, -inf)")
def image_pixel_mask_threshold(path: Path) -> None:
    """A resized mask thresholded at 0.5 with a -inf fill (left alone: a masking value, per element)."""
    _export(_masked_pooling(threshold=True), _pixel_mask_inputs(), path, input_names=["image", "pixel_mask"],
            output_names=["logits"])  # fmt: skip


SAMPLES += [image_alpha_composite, image_pixel_mask, image_pixel_mask_threshold]
