# Inferline: `make run` serves on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test check lint lint-imports typecheck format frontend clean kafka

setup: $(STAMP) frontend

# The dashboard: built into the package's static files when npm is there (the server
# starts without it, and its page at / says how to build it).
DASHBOARD := src/inferline/dashboard/static/index.html
frontend: $(DASHBOARD)

# Exactly the versions package-lock.json pins. The lock lists every platform's optional
# packages (rollup's native builds), so `npm ci` accepts it on any machine, and it
# never writes a tracked file (tests/e2e/test_frontend_install.py checks both).
NPM_INSTALL := npm ci --no-audit --no-fund

$(DASHBOARD): frontend/package.json frontend/package-lock.json frontend/vite.config.js frontend/index.html $(shell find frontend/src -type f 2>/dev/null)
	@if command -v npm >/dev/null 2>&1; then \
		cd frontend && $(NPM_INSTALL) && npm run build; \
	else \
		echo "npm not found: the dashboard is not built (install Node.js 20+, then make frontend)"; \
	fi

# torch is pinned to the local CPU build first: an unpinned torch would pull CUDA wheels.
# The chat model's llama-cpp-python next, compiled once with the flags that work
# (scripts/install-llm.sh), so that the `llm` extra finds it installed. checkov, the
# Terraform scanner of the deployment tests, gets a virtualenv of its own
# (scripts/install-checkov.sh says why).
$(STAMP): pyproject.toml scripts/install-llm.sh scripts/install-checkov.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	./scripts/install-llm.sh $(BIN)
	$(BIN)/pip install --quiet -e ".[dev,llm]"
	./scripts/install-checkov.sh $(PYTHON)
	touch $(STAMP)

run: setup
	$(BIN)/inferline serve --host $(HOST) --port $(PORT)

# A Kafka-protocol broker (Tansu, in memory: a restart comes back empty) for trying the
# Kafka engine: INFERLINE_QUEUE_URL=kafka://127.0.0.1:$(KAFKA_PORT). Ctrl-C stops it.
KAFKA_PORT ?= 9092
kafka: setup
	$(BIN)/python -m inferline.testing.services kafka --port $(KAFKA_PORT)

# The README's test command, which CI runs: style, types, layers, then every test.
test: setup
	./scripts/install-system-deps.sh
	./scripts/ensure-services.sh
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

# The layer contracts of pyproject.toml ([tool.importlinter]; docs/ARCHITECTURE.md, "Layers").
lint-imports: setup
	$(BIN)/lint-imports

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: setup
	$(BIN)/mypy

check: test  # make test already runs lint, typecheck and lint-imports first

format: setup
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
