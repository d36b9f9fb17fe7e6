# The two commands: `make run` (the engine on the embedded default) and `make test` (the suite).
# Each sets itself up from a fresh clone: a virtual environment in .venv with the project installed.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed

.PHONY: run test setup native test-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,native]'
	touch $(STAMP)

# The case linker and the rule engine compiled by mypyc (streams/native.py): used only while it matches the sources;
# if the build fails the engine runs the same code as plain Python (slower), so go on.
NATIVE_SRC := $(wildcard graph/cases.py graph/entities.py graph/normalize.py graph/linker.py \
                rules/kinds_base.py rules/kinds_timed.py rules/detector.py rules/lang/names.py \
                rules/lang/compiler.py engine/warning_book.py)
NATIVE     := build/native/manifest.json

$(NATIVE): $(STAMP) $(NATIVE_SRC) scripts/build_native.py streams/native.py streams/native_build.py
	$(VENV)/bin/python scripts/build_native.py || echo "make: compiling failed, running plain Python" >&2

native: $(NATIVE)

setup: $(STAMP) $(NATIVE)

run: $(STAMP) $(NATIVE)
	$(VENV)/bin/yujing run $(ARGS)

# Servers and the browser the tests need are installed by scripts/test-deps.sh (Debian packages).
test-deps:
	bash scripts/test-deps.sh

# (YUJING_REQUIRE_NATIVE: tests/test_native.py fails unless the compiled linker is in use)
test: $(STAMP) $(NATIVE) test-deps
	YUJING_REQUIRE_NATIVE=1 $(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_pipeline.py
	$(VENV)/bin/python benchmarks/bench_detection.py
	$(VENV)/bin/python benchmarks/report.py --readme

clean:
	rm -rf $(VENV) data .pytest_cache build/native
