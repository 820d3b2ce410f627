"""Rules of stage attestations and lineage (MLV11xx)."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_SLSA = "https://slsa.dev/spec/v1.0/provenance"
_INTOTO = "https://github.com/in-toto/attestation/blob/main/spec/v1/README.md"
_DSSE = "https://github.com/secure-systems-lab/dsse/blob/master/protocol.md"
_LAYOUT = "https://github.com/in-toto/docs/blob/master/in-toto-spec.md#43-file-formats-layout"

MISSING_STAGE = Rule(
    "MLV1101",
    "Required stage missing",
    Severity.HIGH,
    "The lineage policy requires a pipeline stage that no attestation in the model's chain records. "
    "Without it nobody vouches for that step, so whatever it produced may have come from anywhere. "
    "Attest the stage with 'mlvet attest' (or mlvet.stage) when it runs, or fix the policy's "
    "required list.",
    (_SLSA, _LAYOUT),
)
DIGEST_MISMATCH = Rule(
    "MLV1102",
    "Lineage digest chain broken",
    Severity.CRITICAL,
    "A stage consumed an artifact whose digest no earlier stage produced, or the model itself is not "
    "the output of the last attested stage. The artifact between two stages was replaced, which is "
    "how a backdoored model is slipped into a signed pipeline. Do not deploy; find where the "
    "swapped artifact came from and rebuild from the attested one.",
    (_SLSA, _INTOTO),
)
UNAUTHORISED_SIGNER = Rule(
    "MLV1103",
    "Stage signed by an unauthorised key",
    Severity.HIGH,
    "An attestation is signed by a key that the policy does not allow for that stage, by a key the "
    "policy does not know, or records a stage the policy does not list. Provenance-based "
    "allowlisting only means something if the signer's identity is checked, not just the signature. "
    "Check who holds that key; add it to the stage's signers only if it should sign that stage.",
    (_LAYOUT,),
)
THRESHOLD_NOT_MET = Rule(
    "MLV1104",
    "Stage signer threshold not met",
    Severity.HIGH,
    "A stage needs signatures from k distinct authorised keys (k-of-n, the in-toto threshold) and "
    "fewer signed it. One compromised or careless signer could otherwise push a step alone. Collect "
    "the missing signatures ('mlvet attest' again with the other key) before deploying.",
    (_LAYOUT,),
)
BAD_SIGNATURE = Rule(
    "MLV1105",
    "Attestation signature invalid",
    Severity.CRITICAL,
    "A DSSE signature names a key the policy declares but does not verify: the statement was "
    "changed after signing, or the signature was forged. Treat the whole chain as untrusted until "
    "the stage is attested again by its signer.",
    (_DSSE,),
)
UNREADABLE_ATTESTATION = Rule(
    "MLV1106",
    "Attestation unreadable",
    Severity.HIGH,
    "A line of the attestation bundle is not a DSSE envelope holding an in-toto SLSA provenance v1 "
    "statement written by 'mlvet attest' (truncated, not JSON, wrong payload type, missing fields). "
    "A damaged bundle cannot prove anything; restore it from the pipeline's records.",
    (_INTOTO, _SLSA),
)
STAGE_ORDER = Rule(
    "MLV1107",
    "Stages out of order",
    Severity.HIGH,
    "The chain holds the policy's required stages, but not in the order the policy lists them (for "
    "example quantize before train). A pipeline run in an unexpected order may bypass a review or a "
    "test step. Re-run the pipeline in the declared order, or fix the policy.",
    (_LAYOUT,),
)
NOT_EQUIVALENT = Rule(
    "MLV1108",
    "Stage output not equivalent to its input",
    Severity.CRITICAL,
    "A quantize, convert or compile stage produced a model whose outputs disagree with its input "
    "model beyond the policy's tolerance on generated inputs or on inputs built to open suspected "
    "gates. A faithful transformation changes numerics slightly; a large disagreement on a few "
    "inputs is how a quantization-activated or compiler-injected backdoor shows. Do not deploy; "
    "probe the output with 'mlvet probe' and diff it against its parent.",
    (
        "https://arxiv.org/abs/2110.13541",
        "https://arxiv.org/abs/2405.18137",
        "https://arxiv.org/abs/2210.00108",
    ),
)
NEW_STRUCTURE = Rule(
    "MLV1109",
    "Stage added control flow or late input paths",
    Severity.HIGH,
    "The stage's output graph has control flow (If, Loop, Scan), subgraphs, or late nodes reading "
    "graph inputs directly that its input graph did not have. Quantizers and converters rewrite "
    "arithmetic; they do not add branches. Review the new nodes ('mlvet diff', 'mlvet probe').",
    ("https://arxiv.org/abs/2210.00108", "https://arxiv.org/abs/2511.00664"),
)

RULES: tuple[Rule, ...] = (
    MISSING_STAGE,
    DIGEST_MISMATCH,
    UNAUTHORISED_SIGNER,
    THRESHOLD_NOT_MET,
    BAD_SIGNATURE,
    UNREADABLE_ATTESTATION,
    STAGE_ORDER,
    NOT_EQUIVALENT,
    NEW_STRUCTURE,
)
