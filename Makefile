# Two commands on a fresh machine with Python 3.11+:  make demo  ·  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs selfcheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

## demo: build benign and malicious sample models with the real frameworks, scan them, probe a backdoor, detonate a pickle
demo: $(STAMP)
	rm -rf demo
	$(BIN)/python -m tests.corpus.build demo --demo
	$(BIN)/mlvet scan demo/benign
	$(BIN)/mlvet scan demo/malicious || [ $$? -eq 1 ]
	$(BIN)/mlvet probe demo/malicious/graph/injected/L3_bytes_byte_mlp.onnx || [ $$? -eq 1 ]
	$(BIN)/mlvet doctor
	$(BIN)/mlvet sandbox run demo/malicious/pickle/dotted_pathlib_os_system.pkl || [ $$? -eq 1 ]

## test: everything CI checks — lint, types, the whole test suite
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

## selfcheck: mlvet's own environment verified file by file, audited, locked and verified against the lock
selfcheck: $(STAMP)
	mkdir -p build
	$(BIN)/mlvet env verify -q
	$(BIN)/mlvet env audit --offline --no-model-search -q
	$(BIN)/mlvet env lock -o build/pylock.toml --allow-incomplete -q
	$(BIN)/mlvet env verify --lock build/pylock.toml -q

## docs: regenerate docs/rules.md from the rule catalogue
docs: $(STAMP)
	$(BIN)/mlvet rules --format markdown > docs/rules.md

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
