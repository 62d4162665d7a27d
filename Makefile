# The two commands a newcomer needs are `make demo` and `make test`; the rest are their parts.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

## demo: the local test bed's real node, our image, the chart, and a good and a bad rollout shown as
## they happen; the bed is taken down at the end (ARGS=--keep leaves it running)
demo: setup
	bash testbed/install-system-deps.sh node
	bash testbed/build-binaries.sh all
	bash testbed/build-binaries.sh node
	$(BIN)/python examples/demo.py $(ARGS)

.PHONY: demo test setup lint unit integration image testbed-binaries testbed-up testbed-down crd clean

$(BIN)/model-rollout: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/model-rollout

## test: everything CI runs, from nothing: install, lint, unit tests, build the test bed, integration tests
test: setup lint
	bash testbed/build-binaries.sh all
	bash testbed/build-binaries.sh node
	bash testbed/install-system-deps.sh node
	bash testbed/build-image.sh all
	$(BIN)/python -c "from testbed import mlflow; mlflow.ensure()"  # the real MLflow the source tests use (cached venv)
	$(BIN)/pytest -m "not integration" -q
	$(BIN)/pytest -m integration -q

lint: setup
	$(BIN)/ruff check operator tests testbed bench examples
	$(BIN)/ruff format --check operator tests testbed bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -m "not integration" -q

integration: setup
	$(BIN)/pytest -m integration -q

## image: the Dockerfile built here with buildah on a Debian-made base, and the pause image (cached)
image:
	bash testbed/install-system-deps.sh
	bash testbed/build-image.sh all

testbed-up: setup
	$(BIN)/python -m testbed up

testbed-down: setup
	$(BIN)/python -m testbed down

crd: setup
	$(BIN)/model-rollout crd > crds/modelrollout.io_modeldeployments.yaml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
