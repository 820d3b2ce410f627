"""Every sample family in one list (one line per family)."""

from __future__ import annotations

from tests.corpus import (
    build_systems,
    containers,
    gguf_st_hf,
    graph_backdoors,
    graph_clean_models,
    graph_injected,
    graph_tensorflow,
    keras_tf_onnx,
    pickles,
)
from tests.corpus.sample import Sample

MIN_MALICIOUS = 70
MIN_BENIGN = 25

ALL_SAMPLES: list[Sample] = [
    *pickles.SAMPLES,
    *containers.SAMPLES,
    *keras_tf_onnx.SAMPLES,
    *gguf_st_hf.SAMPLES,
    *graph_backdoors.SAMPLES,
    *graph_injected.SAMPLES,
    *graph_clean_models.SAMPLES,
    *graph_tensorflow.SAMPLES,
    *build_systems.SAMPLES,
]

DEMO: frozenset[str] = frozenset(
    {
        # benign, written by the real frameworks
        "torch/benign_state_dict.pt",
        "torch/benign_torchscript.pt",
        "joblib/benign_sklearn_zlib.joblib",
        "pickle/xgboost_classifier.pkl",
        "numpy/benign.npz",
        "keras/benign_functional_nested.keras",
        "onnx/benign_torch_mlp.onnx",
        "gguf/writer_llama3_tool_use.gguf",
        "safetensors/torch_save_file.safetensors",
        "hf/all_minilm_l6_v2",
        "graph/clean_transformer.onnx",
        # malicious, with harmless payloads
        "pickle/dotted_pathlib_os_system.pkl",
        "pickle/nullifai_broken.pkl",
        "pickle/nested_dill_zlib.pkl",
        "torch/zip_junk_prefix.pt",
        "torch/legacy_payload_4th_pickle.pt",
        "joblib/zlib_payload.joblib",
        "numpy/object_array.npy",
        "keras/lambda_nested_functional.keras",
        "tf/eager_pyfunc_library/saved_model.pb",
        "onnx/external_traversal.onnx",
        "gguf/ssti_cycler_popen.gguf",
        "safetensors/overlapping_offsets.safetensors",
        "hf/auto_map_fingerprint_time_bomb",
        "archive/zip_slip.zip",
        "graph/injected/L1_bytes_byte_mlp.onnx",
        "graph/injected/L3_bytes_byte_mlp.onnx",
    }
)
"""Names of the samples ``make demo`` builds: a few of each family."""
