"""Rules of model diff (MLV4xxx): what changed between a known-good model and a candidate."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_SHADOWLOGIC = "https://hiddenlayer.com/innovation-hub/shadowlogic/"
_SHADOWLOGIC_LLM = "https://arxiv.org/abs/2511.00664"

NEW_TRIGGER_SUBGRAPH = Rule(
    "MLV4001",
    "New trigger subgraph in the candidate",
    Severity.HIGH,
    "The candidate graph contains a data-dependent gate (a comparison of the input that switches or "
    "blends in a payload) that the known-good graph does not have. This is how graph backdoors such as "
    "ShadowLogic are planted during conversion or quantization: weights stay intact and accuracy on clean "
    "data is unchanged. Do not deploy; find which pipeline stage added the nodes named in the finding.",
    (_SHADOWLOGIC, _SHADOWLOGIC_LLM),
)
NEW_CONTROL_FLOW = Rule(
    "MLV4002",
    "New control flow in the candidate graph",
    Severity.HIGH,
    "The candidate has If, Loop or Scan nodes the known-good graph lacks. Conversions of the same model "
    "rarely add control flow; a conditional branch is the simplest way to hide a trigger-gated payload. "
    "Review the condition's inputs and the branch bodies before deploying.",
    (_SHADOWLOGIC,),
)
REWIRED_LATE_NODE = Rule(
    "MLV4003",
    "Graph output or late node rewired",
    Severity.MEDIUM,
    "A graph output, or a node a few steps before one, now reads a value the known-good graph did not feed "
    "it. Injected logic has to be applied late, next to the output; when the new source reads a graph input "
    "through new nodes only (a side path around the model's trunk) the finding is high. Compare the nodes "
    "named in the evidence with the known-good export.",
    (_SHADOWLOGIC,),
)
MODEL_INPUTS_CHANGED = Rule(
    "MLV4004",
    "Model inputs added, removed or retyped",
    Severity.HIGH,
    "The candidate's graph inputs differ from the known-good model's (by position and type). A new input "
    "can carry a trigger or an environmental value (a clock, a host id) into the graph. Confirm that the "
    "interface change was intended and that every caller supplies it.",
)
NODES_CHANGED = Rule(
    "MLV4005",
    "Graph nodes added or removed",
    Severity.MEDIUM,
    "Nodes were added to or removed from the candidate graph, matched by structure rather than by name. "
    "Exporter, opset and optimizer changes do this legitimately; a small added group reading the input is "
    "what an injection looks like. Re-export the trusted checkpoint with the same toolchain and diff again.",
)
TENSOR_CHANGED = Rule(
    "MLV4006",
    "Tensor changed beyond tolerance",
    Severity.LOW,
    "A weight tensor's values moved by more than the relative L2 tolerance. Fine-tuning does this "
    "legitimately; the diff shows where and by how much, so that a change in a layer nobody fine-tuned, or "
    "an outlier among layers, gets a second look.",
)
TENSOR_SET_CHANGED = Rule(
    "MLV4007",
    "Tensor added, removed or reshaped",
    Severity.LOW,
    "The candidate has tensors the known-good model lacks or lacks some it had, or a tensor changed shape "
    "or dtype. Architecture changes explain this; an unexplained small tensor can be an attacker's "
    "constant (a steering vector, a class mask).",
)
QUANTIZATION_CHANGED = Rule(
    "MLV4008",
    "Quantization parameters changed",
    Severity.MEDIUM,
    "A scale, a zero point or a tensor's quantization type differs. Quantization-conditioned backdoors are "
    "benign in float and malicious once quantized, and nobody reviews quantization parameters; compare the "
    "float and quantized models on held-out data (mlvet probe) before deploying.",
    ("https://arxiv.org/abs/2405.18137", "https://arxiv.org/abs/2110.13541"),
)
CHAT_TEMPLATE_CHANGED = Rule(
    "MLV4009",
    "Chat template changed",
    Severity.MEDIUM,
    "The chat template differs from the known-good one. Templates decide what the model sees around every "
    "message; the finding is high when the candidate template gains code-like constructs (sandbox-escape "
    "gadgets, dunder attributes) that mlvet scan flags. Read the diff in the evidence.",
    ("CVE-2024-34359",),
)
SPECIAL_TOKENS_CHANGED = Rule(
    "MLV4010",
    "Special tokens changed",
    Severity.HIGH,
    "A special token (BOS, EOS, pad, unknown, chat role markers) or its id changed. Swapping special tokens "
    "changes how prompts are framed and where generation stops, and can smuggle a trigger that looks like "
    "control markup. Confirm the change with the model's publisher.",
)
VOCABULARY_CHANGED = Rule(
    "MLV4011",
    "Tokenizer vocabulary changed",
    Severity.MEDIUM,
    "Tokens were added, removed or given other ids. A remapped token silently changes what the model reads; "
    "an added token can serve as a trigger. Expected only when the model was re-trained with a new "
    "tokenizer.",
)
CONFIG_CHANGED = Rule(
    "MLV4012",
    "Model configuration changed",
    Severity.INFO,
    "config.json, generation_config.json, tokenizer settings or file metadata differ. Most such changes are "
    "benign; the finding is high when the candidate gains remote-code hooks (auto_map, trust_remote_code), "
    "which run Python from the repository when the model loads.",
)
FILES_CHANGED = Rule(
    "MLV4013",
    "Files added to or removed from the model",
    Severity.LOW,
    "The candidate directory has files the known-good one lacks, or lacks some. Added Python files are high: "
    "loaders with trust_remote_code import them. Scan the candidate with mlvet scan.",
)

RULES: tuple[Rule, ...] = (
    NEW_TRIGGER_SUBGRAPH,
    NEW_CONTROL_FLOW,
    REWIRED_LATE_NODE,
    MODEL_INPUTS_CHANGED,
    NODES_CHANGED,
    TENSOR_CHANGED,
    TENSOR_SET_CHANGED,
    QUANTIZATION_CHANGED,
    CHAT_TEMPLATE_CHANGED,
    SPECIAL_TOKENS_CHANGED,
    VOCABULARY_CHANGED,
    CONFIG_CHANGED,
    FILES_CHANGED,
)
