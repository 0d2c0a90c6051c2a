# The README's two commands are `make demo` and `make test`; everything else is a convenience.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format typecheck services browser deploy-tools tools docker image bench clean

# Playwright (a dev dependency) drives Debian's chromium; it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,deploy-check]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/frisk demo

# The whole suite: lint, types, then tests against the real local services and a real browser.
test: install services browser deploy-tools
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/pytest -x -q -m "not slow and not integration"

lint: install
	$(BIN)/ruff check src tests benchmarks

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: install
	$(BIN)/mypy

services:
	bash deploy/local/services.sh

browser:
	bash deploy/local/browser.sh

# What the deployment tests need: Docker, docker-compose, Prometheus, Alertmanager, debootstrap.
deploy-tools:
	bash deploy/local/deploy-tools.sh

# A Docker engine (Debian's docker.io, dockerd without a bridge) and Debian's docker-compose.
docker:
	bash deploy/local/docker.sh >/dev/null

# The container image, tagged frisk:latest and frisk:<version> (docs/DEPLOY.md).
image:
	bash deploy/local/image.sh

# The load tool of the service benchmark (wrk), from Debian's packages when missing.
tools:
	bash deploy/local/tools.sh

# The decision API under load against the bare-FastAPI floor; the other benchmarks run as
# `$(BIN)/python -m benchmarks.<name>` (see docs/BENCHMARKS.md).
bench: install tools
	$(BIN)/python -m benchmarks.bench_service

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
