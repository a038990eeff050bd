PY ?= .venv/bin/python

.PHONY: install test test-slow test-all lint typecheck bench demo

install:
	python3 -m venv .venv
	.venv/bin/pip install torch==2.13.0
	.venv/bin/pip install -e ".[test]"

test:            ## fast tests (every push)
	$(PY) -m pytest -m "not slow"

test-slow:       ## slow tests: real MNIST, minutes of training
	$(PY) -m pytest -m slow

test-all:        ## what CI runs
	$(PY) -m pytest

lint:
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

typecheck:
	$(PY) -m mypy

bench:           ## every benchmark script; results land in benchmarks/results/
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

demo:
	.venv/bin/netslim demo
