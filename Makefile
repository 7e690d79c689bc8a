# Two commands for a newcomer: `make run` (set up, then run the main job on bundled data)
# and `make test` (set up, then run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench lint clean

$(BIN)/contextures: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[data,openml,dask,ann,remote,dev]"
	touch $@

setup: $(BIN)/contextures

run: setup
	$(BIN)/contextures run --out results/run-abalone

test: setup
	$(BIN)/python -m pytest -q -n auto --cov=contextures --cov-report=term:skip-covered

bench: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache results
