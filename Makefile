# Two commands on a fresh clone (only Python 3.10+ and pip needed):
#   make demo   create .venv, install, train Pix2Pix on the built-in synthetic dataset (CPU is fine; again: continue)
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests run in one pytest-xdist worker per core (at most 4), a test file per worker (module fixtures shared).
XDIST ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: demo test test-slow test-all lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "lit_translate needs Python 3.10+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,export]"
	touch $(STAMP)

# Run again to continue an interrupted demo (--ckpt_path auto: resume if there is a checkpoint, else start).
# Start over: rm -rf runs/pix2pix_demo, or make demo ARGS="--overwrite true" (--overwrite wins over auto).
demo: $(STAMP)
	$(BIN)/lit-translate fit -c configs/pix2pix/demo.yaml --ckpt_path auto $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST) --durations=25

# The slow tier: per-method subprocess resume and DDP runs of every demo but Pix2Pix's, long runs (CI runs it too).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(XDIST) --durations=25

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/eval_time.py --recipe configs/pix2pix/facades.yaml --train_size 400 --val_size 100

clean:
	rm -rf $(VENV) runs
