#!/usr/bin/env bash
# docs/walkthrough-gate.md as a script: a new model arrives, is scanned, diffed, inventoried,
# approved by two people and passes the gate; then the gate denies a missing approval, an approval
# by the model's own producer, and a candidate carrying a new trigger subgraph.
# Usage: docs/walkthrough-gate.sh [WORKDIR]   (MLVET=... PYTHON=... to pick the executables)
set -uo pipefail
WORK=${1:-/tmp/mlvet-gate-walkthrough}
MLVET=${MLVET:-mlvet}
PYTHON=${PYTHON:-python}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 2

expect() { local want=$1; shift; printf '\n$ %s\n' "$*"; "$@"; local rc=$?; printf '[exit %d]\n' "$rc";
           [ "$rc" -eq "$want" ] || { echo "expected exit $want" >&2; exit 1; }; }

# Three people: Carol fine-tunes models; Alice and Bob review them.
for who in alice bob carol; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$who.pem" 2>/dev/null
    openssl pkey -in "$who.pem" -pubout -out "$who.pub.pem"
done

# The known-good v1 (in production) and Carol's fine-tuned v2: a byte classifier, 16 bytes in, 4 logits out.
"$PYTHON" - <<'EOF'
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

def save(path, w1, w2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["bytes"], ["x"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("MatMul", ["a", "w2"], ["logits"]),
        ],
        "alert_classifier",
        [helper.make_tensor_value_info("bytes", TensorProto.UINT8, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)

rng = np.random.default_rng(7)
w1 = rng.normal(0, 0.05, (16, 32)).astype(np.float32)
w2 = rng.normal(0, 0.05, (32, 4)).astype(np.float32)
save("v1/classifier.onnx", w1, w2)
save("v2/classifier.onnx", w1 + rng.normal(0, 0.001, w1.shape).astype(np.float32), w2)
EOF

# 1. Carol records how v2 was made.
expect 0 "$MLVET" attest --stage finetune --input v1/classifier.onnx --output v2/classifier.onnx \
    --key carol.pem --dataset "s3://alerts/2026-11.jsonl" --param epochs=3 --no-code-commit

# 2. Scan it and compare it with what runs in production.
expect 0 "$MLVET" scan v2/classifier.onnx
expect 0 "$MLVET" diff v1/classifier.onnx v2/classifier.onnx

# 3. What it is made of.
expect 0 "$MLVET" bom v2/classifier.onnx --env -o v2/bom.cdx.json

# 4. The gate policy: clean scan, no graph backdoor, within bounds of v1, lineage under the
#    identity policy, two approvals of the weights by people who did not produce them.
cat > lineage.toml <<'EOF'
version = 1
required = ["finetune"]

[keys]
carol = "carol.pub.pem"

[stages.finetune]
signers = ["carol"]
EOF
cat > gate.toml <<'EOF'
[gate]
name = "production"

[checks.scan]
fail_on = "high"

[checks.graph]

[checks.diff]
known_good = "v1/classifier.onnx"
max_severity = "low"

[checks.lineage]
policy = "lineage.toml"

[approvers]
alice = "alice.pub.pem"
bob = "bob.pub.pem"
carol = "carol.pub.pem"

[approvals.weights]
required = 2
EOF
cat gate.toml

# 5. One approval is not enough.
expect 0 "$MLVET" approve v2/classifier.onnx --key alice.pem --role weights --comment "diff is the fine-tune only"
expect 1 "$MLVET" gate v2/classifier.onnx --policy gate.toml

# 6. Carol cannot approve her own work.
expect 0 "$MLVET" approve v2/classifier.onnx --key carol.pem --role weights --comment "LGTM"
expect 1 "$MLVET" gate v2/classifier.onnx --policy gate.toml

# 7. Bob approves: the gate passes.
expect 0 "$MLVET" approve v2/classifier.onnx --key bob.pem --role weights --comment "checked scan, diff and BOM"
expect 0 "$MLVET" gate v2/classifier.onnx --policy gate.toml

# 8. A compromised converter plants a trigger in v3; Carol attests it and both reviewers approve it.
mkdir -p v3
expect 0 "$MLVET" redteam inject v2/classifier.onnx --kind bytes --trigger AI_E --payload class:0 --level 1 \
    -o v3/classifier.onnx
expect 0 "$MLVET" attest --stage finetune --input v1/classifier.onnx --output v3/classifier.onnx \
    --key carol.pem --dataset "s3://alerts/2026-11.jsonl" --no-code-commit
for who in alice bob; do
    expect 0 "$MLVET" approve v3/classifier.onnx --key "$who.pem" --role weights --comment "looks fine"
done
expect 1 "$MLVET" gate v3/classifier.onnx --policy gate.toml
