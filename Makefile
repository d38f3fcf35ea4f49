# `make train analyze` is the main job; `make test` runs the suite. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# task:preset[:seed] runs shipped in trained_models/: the orthonormal-codes selection model shows length generalisation,
# the standard cumsum model is the positional one's baseline. Longest first, so that the cores finish together.
RUNS := counting:default selection:orthonormal selection:default parity:minimal parity:default cumsum:default cumsum:standard
JOBS ?= $(shell nproc)

# The counting paper's encoder-decoder (the `paper` preset) ships as the first seed whose analysis reads "the predicted
# circuit" in counting-bias's census, or seed 0 where no seed did (the README says which). About three minutes on a core,
# so it trains under its own target rather than in `make train`.
# parity:minimal is Han & Ghoshdastidar's minimal model (about 25 s on a core); its seed 0 is the first from 0 up
# whose analysis reads "the predicted circuit" (docs/theory/parity.md), so it ships from RUNS' seed 0.
PAPER_SEED ?= 0

.PHONY: install train train-paper analyze test bench reproduce clean-venv

install: $(STAMP)

# torch first, pinned, so that no CUDA build is pulled in; Chromium for the report test.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,ray,tracr]"
	bash scripts/install-chromium.sh
	touch $(STAMP)

# One run a core, each on one thread in a worker forked from one that imported training once: the same bytes as one
# at a time (tests/test_training.py checks it). Each prints its line when it finishes; a failed run fails the target.
train: install
	$(BIN)/interp train $(RUNS) --jobs $(JOBS) --quiet

train-paper: install
	$(BIN)/interp train counting --preset paper --seed $(PAPER_SEED) --quiet

analyze: install
	$(BIN)/interp analyze --all --jobs $(JOBS)

# The layers first (pyproject.toml, [tool.importlinter]): a module importing from a layer above its own fails here.
test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Every experiment at --quick scale; their summaries and plots in analyses/experiments/ are committed.
reproduce: install
	@for name in $$($(BIN)/interp experiment list --names); do $(BIN)/interp experiment run $$name --quick || exit 1; done
	$(BIN)/interp experiment table --readme README.md

# `make bench DEVICE=cuda` weighs a GPU instead: the training loop's step on it against one CPU thread.
DEVICE ?= cpu
bench: install
	$(BIN)/python -m interp.bench --device $(DEVICE) --out $(if $(filter cuda,$(DEVICE)),bench-cuda.json,bench.json)

clean-venv:
	rm -rf $(VENV)
