# newswire: `make publish` installs and publishes the example journal into feeds/;
# `make test` runs the test suite. Both create the virtual environment if needed.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: publish test lint docs bench serve clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,postgresql]'
	$(BIN)/python -m compileall -q src  # as an installed package would be, even where Python may not write bytecode
	touch $@

publish: $(BIN)/.installed
	$(BIN)/newswire --config config.yaml publish

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

# README's command and configuration tables, from the commands' help and the settings' declarations
docs: $(BIN)/.installed
	$(BIN)/python scripts/readme.py

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py --sizes 10000 --runs 3 --archives
	$(BIN)/python bench/run.py --sizes 10000 --authors 50 --labels 200 --runs 3
	$(BIN)/python bench/run.py --sizes 50000 --authors 50 --labels 200 --runs 3 --sync-only
	$(BIN)/python bench/run.py --sizes 50000,100000 --authors 50 --labels 200 --runs 1 --archives-only
	$(BIN)/python bench/run.py --sizes 100000 --runs 1 --repeats 5
	$(BIN)/python bench/run.py --sizes 10000 --runs 3 --repeats 3 --stores sqlite,postgresql
	$(BIN)/python bench/hub_latency.py
	$(BIN)/python bench/s3.py --posts 10000 --runs 3

clean:
	rm -rf feeds site newswire.db newswire.db-* newswire.db.lock .pytest_cache .ruff_cache .mypy_cache
