# nlpbook: `make run` executes every chapter; `make test` runs the unit tests and nbval.
PYTHON ?= python3.11
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
NLPBOOK_PROFILE ?= quick
# The committed outputs were computed with one torch thread; the same thread count gives the
# same floating-point path, so training reproduces them. Override: make run OMP_NUM_THREADS=2
OMP_NUM_THREADS ?= 1
export NLPBOOK_PROFILE OMP_NUM_THREADS

BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.nlpbook-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup run test unit nbval lab data notebooks lint clean bench

setup: $(STAMP)

# Torch first, so that pip does not pull a multi-GB CUDA build to satisfy the package.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

data: setup
	$(PY) -m nlpbook.data profile $(NLPBOOK_PROFILE)

run: setup data
	$(PY) scripts/run_chapters.py --out build $(NOTEBOOKS)

test: setup
	$(BIN)/pytest -q tests
	$(BIN)/pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

unit: setup
	$(BIN)/pytest -q tests

lab: setup
	$(BIN)/jupyter lab notebooks/

notebooks: setup
	NLPBOOK_PROFILE=quick $(PY) scripts/run_chapters.py --inplace $(NOTEBOOKS)

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

lint: setup
	$(BIN)/ruff check src tests scripts benchmarks notebooks

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
