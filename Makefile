# Everyday commands. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv demo test test-unit test-integration lint typecheck bench lock stack-up stack-down clean

help:
	@echo "make demo   - set up, start the local stack, run the COLABOX demo"
	@echo "make test   - set up and run lint, type checks and the whole test suite"
	@echo "make bench  - run the benchmarks (ratios against bare baselines)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[server,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/privtrail stack up
	$(BIN)/privtrail demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy checks the package as installed, so streams/, sinks/, schemas/ and queries/ are seen
# under their real names (privtrail.streams, ...), which the editable install maps.
typecheck: $(STAMP)
	rm -rf build/typecheck
	$(BIN)/pip install -q --no-deps --target build/typecheck .
	cd build/typecheck && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p privtrail

test-unit: $(STAMP)
	$(BIN)/pytest -m unit -q

test-integration: $(STAMP)
	$(BIN)/pytest -m integration -q

test: lint typecheck $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lock:
	rm -rf /tmp/privtrail-lock && $(PYTHON) -m venv /tmp/privtrail-lock
	/tmp/privtrail-lock/bin/pip install -q '.[server,dev]'
	/tmp/privtrail-lock/bin/pip freeze --exclude privtrail > constraints.txt

stack-up: $(STAMP)
	$(BIN)/privtrail stack up

stack-down: $(STAMP)
	$(BIN)/privtrail stack down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
