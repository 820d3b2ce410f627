"""The graph-backdoor rules (MLV901-MLV949): one per way an injected gate is built."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_SHADOWLOGIC = "https://hiddenlayer.com/innovation-hub/shadowlogic/"
_SHADOWLOGIC_LLM = "https://arxiv.org/abs/2511.00664"
_TROJANNET = "https://github.com/trx14/TrojanNet"
_DEEPPAYLOAD = "https://arxiv.org/abs/2101.06896"
_ARCHITECTURAL = "https://arxiv.org/abs/2206.07840"
_FIRST_PRINCIPLES = "https://arxiv.org/abs/2402.06957"

WHERE_GATE = Rule(
    "MLV901",
    "Input-value trigger selects the output through Where",
    Severity.HIGH,
    "A Where node switches between the model's computation and a constant payload on a condition "
    "computed from raw input values (a slice or reduction of the input compared with constants). "
    "This is the ShadowLogic / DeepPayload pattern: a hidden trigger that overrides the prediction. "
    "Legitimate masks (padding, causal, NaN guards) compare shapes or special token ids and are not "
    "reported. Inspect the nodes named in the finding before using the model.",
    (_SHADOWLOGIC, _DEEPPAYLOAD),
)
IF_GATE = Rule(
    "MLV902",
    "Input-value trigger selects an If branch",
    Severity.HIGH,
    "An If node's condition is computed from raw input values compared with constants, rather than "
    "from shapes as exported Python control flow usually is. One branch can carry a payload that "
    "only runs when the trigger is present. Inspect the condition and both branches.",
    (_SHADOWLOGIC, _DEEPPAYLOAD),
)
ARITHMETIC_GATE = Rule(
    "MLV903",
    "Input-value trigger blended in arithmetically",
    Severity.HIGH,
    "A 0/1 value made by casting a comparison of raw input values is multiplied into or added onto "
    "the main computation (Mul/Sub/Add), with no Where or If: the obfuscated ShadowLogic form that "
    "detectors looking for select ops miss. Inspect the trigger and the constants it blends in.",
    (_SHADOWLOGIC, "https://github.com/vAirpower/shadowlogic-yolo-flag-demo"),
)
SEQUENCE_TRIGGER = Rule(
    "MLV904",
    "Token ids or bytes compared with a constant sequence",
    Severity.HIGH,
    "Integer token ids or raw bytes at fixed positions are compared with a constant sequence that "
    "is not made of the tokenizer's special ids (pad, cls, sep, mask), and the result gates the "
    "computation: a trigger phrase or magic bytes (the ShadowLogic LLM backdoor, an alert-suppression "
    "trigger in a byte classifier). Padding masks compare with a single pad id and are not reported.",
    (_SHADOWLOGIC_LLM, _SHADOWLOGIC),
)
SIDE_PATH = Rule(
    "MLV905",
    "Shallow side path from the input joins after the last layer",
    Severity.HIGH,
    "A branch that reads the same input as the model, through far fewer layers and with weights of "
    "its own, is merged into the result after the model's last layer. This is how TrojanNet and "
    "architectural backdoors attach a trigger detector beside an untouched model. Check what the "
    "side branch computes and why it bypasses the trunk.",
    (_TROJANNET, _FIRST_PRINCIPLES),
)
SMOOTH_DETECTOR = Rule(
    "MLV906",
    "Saturating detector with an extreme constant over the input",
    Severity.HIGH,
    "Sigmoid/Exp/Tanh/Pow applied to a slice of the raw input with a constant so steep that it "
    "rises from 0 to 1 within a small fraction of the input's range (|k| * max(1, |threshold|) >= 50) "
    "acts as a comparison written with smooth ops, a weight-independent trigger detector that "
    "survives retraining (architectural backdoors). Temperature scaling and activation "
    "approximations (GELU, SiLU) are gentler and are not reported.",
    (_ARCHITECTURAL, _FIRST_PRINCIPLES),
)
INTERMEDIATE_GATE = Rule(
    "MLV907",
    "Gate read from a hidden feature joins late",
    Severity.HIGH,
    "A reduction of an intermediate activation is compared with a constant threshold and the "
    "result switches or blends a payload into a later layer: a trigger keyed on learned features "
    "instead of raw input. Confidence thresholds on the model's own final output (abstain heads, "
    "NMS) are not reported.",
    (_FIRST_PRINCIPLES, _SHADOWLOGIC),
)
ENVIRONMENT_GATE = Rule(
    "MLV908",
    "Random or environment-dependent value gates the output",
    Severity.HIGH,
    "A condition or blend factor is computed from a random generator (RandomUniform, RandomNormal, "
    "Multinomial, Bernoulli) rather than from the input, so the model misbehaves on a fraction of "
    "queries that no test input reproduces. Inference graphs have no reason to do this outside "
    "dropout; inspect the gate.",
    (_FIRST_PRINCIPLES,),
)

RULES: tuple[Rule, ...] = (
    WHERE_GATE,
    IF_GATE,
    ARITHMETIC_GATE,
    SEQUENCE_TRIGGER,
    SIDE_PATH,
    SMOOTH_DETECTOR,
    INTERMEDIATE_GATE,
    ENVIRONMENT_GATE,
)
