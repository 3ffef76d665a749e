# adloom task runner. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/demo

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint typecheck bench clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch's CPU build first, so the embedding extra does not pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[verify,serve,postgresql,redis,measure,llm,llm-local,cohorts,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install adloom with its extras

demo: $(STAMP) ## Run the whole loop on the bundled sample campaign into $(OUT)
	$(BIN)/adloom demo --out $(OUT)

test: $(STAMP) ## Run the whole test suite with the coverage gate (pyproject.toml)
	$(BIN)/pytest --cov=adloom --cov-report=term:skip-covered $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the tests, skipping the slow end-to-end tier
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP) ## Benchmarks: render, re-render, plan, LLM planning, verifier suite, serving and regret against same-run baselines; measurement on real data; PCI analysis, splice and continuity; cohorts
	$(BIN)/python bench/render.py
	$(BIN)/python bench/rerender.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/measure.py
	$(BIN)/python bench/pci.py
	$(BIN)/python bench/cohorts.py

clean: ## Remove the virtualenv and outputs
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
