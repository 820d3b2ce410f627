#!/usr/bin/env bash
# Run every benchmark in order; results land in benchmarks/results/. Usage: benchmarks/run_all.sh
# (PYTHON overrides the project interpreter, default .venv/bin/python). About 20-40 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"

"$PYTHON" -m benchmarks.peers                # the peers' venv in benchmarks/.work/peers-venv
"$PYTHON" -m benchmarks.corpus_detection     # 1. detection, per sample and per tool
"$PYTHON" -m benchmarks.corpus_throughput    # 2. one invocation over the corpus x10
"$PYTHON" -m benchmarks.large_files          # 3. 2 GB checkpoint, 2M-opcode pickle
"$PYTHON" -m benchmarks.graph.run            # 4. graph backdoors: TPR per level, FPs, probe, 100k nodes
"$PYTHON" -m benchmarks.hashing.run          # 5. 4 GB manifest vs OpenSSL and model-signing
"$PYTHON" -m benchmarks.env_verify.run       # 6. environment verification vs OpenSSL over the same files
"$PYTHON" -m benchmarks.sandbox.overhead     # 7. isolation overhead per rung
"$PYTHON" -m benchmarks.diff.run             # 8. 2 GB safetensors diff: peak memory and time
