# Sparsity Notebooks. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
JOBS ?= 2
SEEDS ?= 1 2 3 4
NB ?=

.PHONY: help setup lab test lint unit run student test-seeds bench outputs check-notebooks clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The environment: created if missing, reinstalled only when requirements.txt or pyproject.toml change.
# The local CPU build of torch is tried first (quick, no multi-GB CUDA download); elsewhere the
# requirements' torch>=2.4 takes whatever build pip finds.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 2>/dev/null || true
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

setup: $(STAMP) ## create .venv and install requirements.txt (only when it changed)

lab: setup ## open JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks/

lint: setup ## ruff check, ruff format --check (notebooks included), and the helpers' bands (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

unit: setup ## only the helpers' unit tests
	$(PY) -m pytest -q tests/unit

# Two sessions, with the network cut (tools/offline/sitecustomize.py, in every test process and
# Jupyter kernel; attempts are logged to runs/test/network.log). First the unit tests, the tools' and
# student copies' tests, the bad-parameter tests and nbval over every notebook (two workers, one torch
# thread each; --dist loadfile keeps each notebook's cells on one kernel). Each notebook writes its
# results.json under runs/test/. Then the tests that read what the runs left: claims, bit-for-bit
# reproducibility, the network log, and the browser tests (JupyterLab, and the gallery of runs/test).
NETLOG := $(CURDIR)/runs/test/network.log
test: lint ## the whole test suite (what CI runs)
	@mkdir -p runs/test && rm -f $(NETLOG)
	PYTHONPATH=$(CURDIR)/tools/offline SPARSITY_NETWORK_LOG=$(NETLOG) \
	SPARSITY_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) --dist loadfile \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 --durations=12 \
		tests/unit tests/tools tests/students tests/parameters notebooks/[0-9][0-9]_*.ipynb
	$(PY) tools/notebooks.py index runs/test
	SPARSITY_NETWORK_LOG=$(NETLOG) SPARSITY_THREADS=1 $(PY) -m pytest -q --durations=5 \
		tests/claims tests/runs tests/browser
	$(PY) tools/notebooks.py check

# NB=... (one or more notebook numbers) limits it to those notebooks and their claim tests.
CLAIMS := $(if $(NB),$(foreach n,$(NB),$(wildcard tests/claims/test_$(n)_*.py)),tests/claims)
test-seeds: setup ## rerun every notebook (or NB=...) on SEEDS (default 1 2 3 4) and apply the claim tests to each
	@for seed in $(SEEDS); do \
		$(PY) tools/notebooks.py run --force --seed $$seed --out runs/seeds/seed$$seed --jobs $(JOBS) $(NB) || exit 1; \
		$(PY) -m pytest -q $(CLAIMS) --results-root runs/seeds/seed$$seed || exit 1; \
	done

OUT ?= runs/run
run: setup ## run every notebook (or NB=...) into OUT=runs/run, resuming; gallery: OUT/index.html
	$(PY) tools/notebooks.py run --jobs $(JOBS) --out $(OUT) $(if $(FORCE),--force) $(NB)

student: setup ## write student copies (cells tagged `solution` become stubs) into students/
	$(PY) tools/notebooks.py student --out students $(NB)

bench: setup ## print the benchmark ratios (masked vs dense, sparse vs dense)
	$(PY) benchmarks/bench_masks.py

outputs: setup ## re-execute NB=... in place so its committed outputs are fresh
	$(PY) tools/notebooks.py outputs $(NB)

check-notebooks: setup ## check the notebook conventions of STANDARD.md
	$(PY) tools/notebooks.py check

clean: ## remove runs and caches (keeps .venv)
	rm -rf runs students .pytest_cache .ruff_cache data/cache
