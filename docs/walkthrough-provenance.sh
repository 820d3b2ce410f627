#!/usr/bin/env bash
# Provenance walkthrough: sign a model, record train -> quantize -> convert with two keys, verify
# the chain under an identity policy, then catch a backdoored model slipped into the pipeline.
#
#   docs/walkthrough-provenance.sh [WORKDIR]      (MLVET=... PYTHON=... to pick the binaries)
#
# Needs mlvet[onnx,torch] and openssl. Every command's exit status is checked against the expected
# one; the script stops at the first surprise.
set -euo pipefail
MLVET=${MLVET:-mlvet}
PYTHON=${PYTHON:-python3}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"

# run CMD... and check that it exits with $1
expect() {
    local want=$1
    shift
    printf '\n$ %s\n' "$*"
    set +e
    "$@"
    local got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "walkthrough: expected exit $want, got $got" >&2
        exit 1
    fi
    echo "[exit $got]"
}

echo "## 1. Two signers: alice trains; quantization needs alice and bob; bob converts"
for who in alice bob; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$who.pem" 2>/dev/null
    openssl pkey -in "$who.pem" -pubout -out "$who.pub.pem"
done
ls ./*.pem

echo
echo "## 2. Train an alert classifier on network payloads, recorded with the Python API"
cat > train.py <<'EOF'
import numpy as np
import torch

import mlvet.provenance.lineage as lineage

torch.manual_seed(0)
rng = np.random.default_rng(0)
payloads = rng.integers(0, 256, size=(512, 64), dtype=np.uint8)
np.save("traffic-sample.npy", payloads)
labels = (payloads[:, :8].mean(axis=1) > 127).astype(np.int64)  # 1 = alert


class AlertClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(),
            torch.nn.Linear(32, 32), torch.nn.ReLU(),
            torch.nn.Linear(32, 2),
        )

    def forward(self, payload: torch.Tensor) -> torch.Tensor:
        return self.body(payload.float() / 255.0)


with lineage.stage(
    "train", key="alice.pem", params={"epochs": 150, "lr": 0.01}, datasets=["traffic-sample.npy"]
) as stage:
    model = AlertClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.from_numpy(payloads), torch.from_numpy(labels)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    torch.onnx.export(
        model, (x[:1],), "traffic.onnx", input_names=["payload"], output_names=["logits"],
        dynamic_axes={"payload": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
    )
    stage.output("traffic.onnx")
print(f"trained: loss {loss.item():.3f}; attested in {stage.attestation.bundle}")
EOF
expect 0 "$PYTHON" -W ignore train.py

echo
echo "## 3. Sign the trained model (OpenSSF Model Signing) and verify it"
expect 0 "$MLVET" sign traffic.onnx --key alice.pem
expect 0 "$MLVET" verify traffic.onnx --key alice.pub.pem

echo
echo "## 4. Quantize (onnxruntime dynamic int8) and attest it with both keys"
"$PYTHON" -c "
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic('traffic.onnx', 'traffic.int8.onnx', weight_type=QuantType.QInt8)
" 2>/dev/null
expect 0 "$MLVET" attest --stage quantize --input traffic.onnx --output traffic.int8.onnx \
    --key alice.pem --key bob.pem --param weight_type=QInt8 --param method=dynamic

echo
echo "## 5. Convert (onnx version converter to opset 18) and attest it with bob's key"
"$PYTHON" -c "
import onnx
from onnx import version_converter
onnx.save(version_converter.convert_version(onnx.load('traffic.int8.onnx'), 18), 'traffic.int8.opset18.onnx')
"
expect 0 "$MLVET" attest --stage convert --input traffic.int8.onnx --output traffic.int8.opset18.onnx \
    --key bob.pem --param target_opset=18

echo
echo "## 6. The identity policy, and the deployed model's lineage under it"
cat > policy.toml <<'EOF'
version = 1
required = ["train", "quantize", "convert"]

[keys]
alice = "alice.pub.pem"
bob = "bob.pub.pem"

[stages.train]
signers = ["alice"]

[stages.quantize]
signers = ["alice", "bob"]
threshold = 2                       # both must sign
equivalence = { atol = 0.25, rtol = 0.1 }   # int8 may move a logit a little, never a lot

[stages.convert]
signers = ["bob"]
EOF
cat policy.toml
expect 0 "$MLVET" lineage verify traffic.int8.opset18.onnx --policy policy.toml --check-equivalence

echo
echo "## 7. Attack: the quantized model is swapped for a backdoored one before conversion"
mkdir -p swapped
cp traffic.onnx traffic.int8.onnx traffic.onnx.intoto.jsonl traffic.int8.onnx.intoto.jsonl \
    policy.toml ./*.pub.pem bob.pem swapped/
cd swapped
# 'AI_E' at the start of a payload forces class 0 (no alert)
expect 0 "$MLVET" redteam inject traffic.int8.onnx --kind bytes --trigger AI_E --payload class:0 -o traffic.int8.onnx
"$PYTHON" -c "
import onnx
from onnx import version_converter
onnx.save(version_converter.convert_version(onnx.load('traffic.int8.onnx'), 18), 'traffic.int8.opset18.onnx')
"
expect 0 "$MLVET" attest --stage convert --input traffic.int8.onnx --output traffic.int8.opset18.onnx \
    --key bob.pem --param target_opset=18
expect 1 "$MLVET" lineage verify traffic.int8.opset18.onnx --policy policy.toml
cd ..

echo
echo "## 8. Attack: a compromised quantizer signs its own backdoored output"
mkdir -p quantizer
cp traffic.onnx traffic.onnx.intoto.jsonl policy.toml ./*.pem quantizer/
cd quantizer
"$PYTHON" -c "
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic('traffic.onnx', 'clean.int8.onnx', weight_type=QuantType.QInt8)
" 2>/dev/null
"$MLVET" redteam inject clean.int8.onnx --kind bytes --trigger AI_E --payload class:0 -o traffic.int8.onnx >/dev/null
expect 0 "$MLVET" attest --stage quantize --input traffic.onnx --output traffic.int8.onnx \
    --key alice.pem --key bob.pem --param weight_type=QInt8 --param method=dynamic
"$PYTHON" -c "
import onnx
from onnx import version_converter
onnx.save(version_converter.convert_version(onnx.load('traffic.int8.onnx'), 18), 'traffic.int8.opset18.onnx')
"
expect 0 "$MLVET" attest --stage convert --input traffic.int8.onnx --output traffic.int8.opset18.onnx \
    --key bob.pem --param target_opset=18
# every signature and every digest link holds ...
expect 0 "$MLVET" lineage verify traffic.int8.opset18.onnx --policy policy.toml
# ... and running both sides of each stage shows the quantizer lied
expect 1 "$MLVET" lineage verify traffic.int8.opset18.onnx --policy policy.toml --check-equivalence
cd ..

echo
echo "walkthrough: every step behaved as expected (work directory: $WORK)"
