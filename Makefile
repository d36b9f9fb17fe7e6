# The two commands: `make run` (the engine on the embedded default) and `make test` (the suite).
# Each sets itself up from a fresh clone: a virtual environment in .venv with the project installed.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed

.PHONY: run test setup test-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/yujing run $(ARGS)

# Servers and the browser the tests need are installed by scripts/test-deps.sh (Debian packages).
test-deps:
	bash scripts/test-deps.sh

test: $(STAMP) test-deps
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_pipeline.py
	$(VENV)/bin/python benchmarks/bench_detection.py
	$(VENV)/bin/python benchmarks/report.py --readme

clean:
	rm -rf $(VENV) data .pytest_cache
