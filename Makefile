# The two set-up commands are `make run` and `make test`; everything they need is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
RUN := $(UV) run --frozen --no-sync
# Every service, command and test process starts from compiled modules, kept under .cache rather
# than beside the sources, whatever the environment says (PYTHONDONTWRITEBYTECODE made each of
# them compile everything again: most of a second per process).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache

.PHONY: help install kafka-libs zipkin-libs tools run test test-faults test-unit test-integration test-e2e lint format protos openapi asyncapi transitions clean bench

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

install: .venv/.synced ## Install the Python dependencies (locked) into .venv

kafka-libs: ## Assemble Apache Kafka from Maven Central (cached in .cache/)
	@infra/bin/kafka-libs >/dev/null

zipkin-libs: ## Fetch the Zipkin server (trace UI) from Maven Central (cached in .cache/)
	@infra/bin/zipkin-libs >/dev/null

tools: ## Build the pinned grpcurl the tests drive, with Go (cached in .cache/bin)
	@infra/bin/tools

run: install kafka-libs zipkin-libs ## Start PostgreSQL, Kafka, Zipkin and the three services on loopback (Ctrl-C stops; TLS=1: over TLS, agencies with client certificates)
	@PATH="$(CURDIR)/.venv/bin:$$PATH" SUPERVISION_RUN_TLS="$(TLS)" infra/bin/run

test: install kafka-libs zipkin-libs tools lint ## Lint, then run the whole suite on the real engines (all but the fault tests)
	$(RUN) pytest -m "not faults"

test-faults: install kafka-libs ## The fault tests: crashes, restarts and a broker cluster under load (minutes)
	$(RUN) pytest -m faults

test-unit: install ## Only the fast unit tests
	$(RUN) pytest -m unit

test-integration: install kafka-libs tools ## Only the integration tests (real PostgreSQL and Kafka)
	$(RUN) pytest -m integration

test-e2e: install kafka-libs zipkin-libs tools ## Only the end-to-end tests (services as processes)
	$(RUN) pytest -m e2e

lint: install ## ruff (format and lint) and mypy --strict
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) mypy

format: install ## Format and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

protos: install ## Regenerate the gRPC stubs in contracts/grpc from protos/
	$(RUN) python infra/scripts/gen_protos.py

openapi: install ## Regenerate the HTTP services' OpenAPI documents in contracts/openapi
	$(RUN) python infra/scripts/gen_openapi.py

transitions: install ## Write the README's table of transitions from contracts/transitions.py
	$(RUN) python infra/scripts/gen_transitions.py

asyncapi: install ## Regenerate the events' AsyncAPI document, contracts/asyncapi.json
	$(RUN) python infra/scripts/gen_asyncapi.py

clean: ## Remove local state (databases, Kafka data, traces); keeps the caches
	rm -rf .run

bench: install kafka-libs ## Benchmark: baselines and the system under load (15-20 minutes); writes docs/benchmarks.md
	$(RUN) python -m bench $(BENCH_ARGS)
