# Sparsity Notebooks. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
JOBS ?= 2
SEEDS ?= 1 2 3 4
NB ?=
SPEC ?=
DASK ?=

.PHONY: help setup lab test lint unit run student test-students test-seeds bench outputs check-notebooks book sweep clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The environment: created if missing, reinstalled only when its requirements or pyproject.toml change.
# Two sets: requirements.txt is what a learner needs to run the notebooks (`make lab`, run, outputs,
# student, bench); requirements-dev.txt adds the test, lint, browser, site and sweep tools (`make setup`
# and every target that tests or builds). Each set has its own stamp.
# The local CPU build of torch is tried first (quick, no multi-GB CUDA download); elsewhere the
# requirements' torch>=2.4 takes whatever build pip finds.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 2>/dev/null || true
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

setup: $(DEV_STAMP) ## create .venv and install requirements-dev.txt: the learner's set + test/lint/site tools

lab: $(STAMP) ## install only the learner's requirements.txt, then open JupyterLab on notebooks/
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
# results.json under runs/test/. Then the course site is built (network cut too; its gallery is
# runs/test), and the tests that read what the runs left: claims, bit-for-bit reproducibility, the
# network log, and the browser tests (JupyterLab, the gallery of runs/test, every page of the site).
NETLOG := $(CURDIR)/runs/test/network.log
test: lint ## the whole test suite (what CI runs)
	@mkdir -p runs/test && rm -f $(NETLOG)
	PYTHONPATH=$(CURDIR)/tools/offline SPARSITY_NETWORK_LOG=$(NETLOG) \
	SPARSITY_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) --dist loadfile \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 --durations=12 \
		tests/unit tests/tools tests/students tests/parameters notebooks/[0-9][0-9]_*.ipynb
	$(PY) tools/notebooks.py index runs/test
	PYTHONPATH=$(CURDIR)/tools/offline SPARSITY_NETWORK_LOG=$(NETLOG) \
		$(PY) tools/book.py --gallery runs/test
	SPARSITY_NETWORK_LOG=$(NETLOG) SPARSITY_THREADS=1 SPARSITY_BOOK=$(CURDIR)/build/book/html \
		$(PY) -m pytest -q --durations=5 tests/claims tests/runs tests/browser
	$(PY) tools/notebooks.py check

# NB=... (one or more notebook numbers) limits it to those notebooks and their claim tests.
CLAIMS := $(if $(NB),$(foreach n,$(NB),$(wildcard tests/claims/test_$(n)_*.py)),tests/claims)
test-seeds: setup ## rerun every notebook (or NB=...) on SEEDS (default 1 2 3 4) and apply the claim tests to each
	@for seed in $(SEEDS); do \
		$(PY) tools/notebooks.py run --force --seed $$seed --out runs/seeds/seed$$seed --jobs $(JOBS) $(NB) || exit 1; \
		$(PY) -m pytest -q $(CLAIMS) --results-root runs/seeds/seed$$seed || exit 1; \
	done

OUT ?= runs/run
run: $(STAMP) ## run every notebook (or NB=...) into OUT=runs/run, resuming; gallery: OUT/index.html
	$(PY) tools/notebooks.py run --jobs $(JOBS) --out $(OUT) $(if $(FORCE),--force) $(NB)

# SPEC=sweeps/<name>.yaml (see sweeps/README.md); DASK=local runs it on a Dask LocalCluster,
# DASK=tcp://host:8786 on a running cluster. Resumes: finished points are reused.
sweep: $(DEV_STAMP) ## run a parameter sweep SPEC=sweeps/x.yaml (DASK=local|address): table, figures, OUT/index.html
	@test -n "$(SPEC)" || { echo "make sweep needs SPEC=sweeps/<name>.yaml (see sweeps/README.md)"; exit 2; }
	$(PY) tools/sweep.py $(SPEC) --jobs $(JOBS) $(if $(DASK),--dask $(DASK)) $(if $(FORCE),--force)

student: $(STAMP) ## write student copies (cells tagged `solution` become stubs) into students/
	$(PY) tools/notebooks.py student --out students $(NB)

# `make test` checks the student copies without running them to the end (tests/students explains why);
# this runs each filled copy to the end and compares its results with the committed run's.
# SPARSITY_STUDENT_RUNS=unfilled make test-students leaves the stubs unsolved instead: same results.
STUDENT_RUNS ?= full
test-students: setup ## run every student copy (or NB=...) with its stubs filled; results must match the committed run
	SPARSITY_STUDENT_RUNS=$(or $(SPARSITY_STUDENT_RUNS),$(STUDENT_RUNS)) SPARSITY_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) \
		tests/students $(if $(NB),-k "$(subst $() , or ,$(foreach n,$(NB),$(n)_))")

bench: $(STAMP) ## print the benchmark ratios (masked vs dense, sparse vs dense)
	$(PY) benchmarks/bench_masks.py

outputs: $(STAMP) ## re-execute NB=... in place so its committed outputs are fresh
	$(PY) tools/notebooks.py outputs $(NB)

# The course site: Sphinx + MyST-NB renders the notebooks as committed (nothing is executed), with
# the syllabus, tracks, dependency graph and the latest run's gallery; MathJax is served locally.
book: setup ## build the course site offline into build/book/html (open build/book/html/index.html)
	$(PY) tools/book.py

check-notebooks: setup ## check the notebook conventions of STANDARD.md
	$(PY) tools/notebooks.py check

clean: ## remove runs and caches (keeps .venv)
	rm -rf runs students build/book .pytest_cache .ruff_cache data/cache
