# The two commands a newcomer needs: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

RUNTIME_STAMP := $(VENV)/.runtime-installed
NODE_STAMP := contract/node_modules/.installed

.PHONY: install run test fuzz lint contract migrate seed bench bench-webhooks bench-renders illustrations \
	docs-pictures

# `make run` installs the service's runtime dependencies only; `make test` and `make lint` add the test
# and dev tools ('.[dev]') on top.
$(RUNTIME_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The npm tools that check the contract and the generated TypeScript client, exactly as
# contract/package-lock.json pins them (no install scripts run).
$(NODE_STAMP): contract/package-lock.json
	cd contract && npm ci --no-audit --no-fund --ignore-scripts
	@touch $(NODE_STAMP)

migrate: $(RUNTIME_STAMP)
	$(BIN)/hep migrate

seed: migrate
	$(BIN)/hep seed

# Serves http://127.0.0.1:8000 (docs at /docs); HEP_DEMO=0 skips the demo clinic.
run: seed
	HEP_DEMO=$${HEP_DEMO:-1} $(BIN)/hep serve

# HEP_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test  runs on PostgreSQL.
test: install $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The schema fuzzer at length: FUZZ_EXAMPLES generated requests per operation (make test runs 8, the
# same ones every time), a new random seed each run. Add HEP_TEST_DATABASE_URL=... for PostgreSQL.
FUZZ_EXAMPLES ?= 200
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)

# docs/illustrations.md and its PNGs: every catalogue exercise's illustration (resvg-py, from PyPI).
illustrations: install
	$(BIN)/python -m tests.gallery

# ruff, ruff format, the import contracts in pyproject.toml (imports point down only), mypy (its
# [tool.mypy] says what: all of app, services and models strictly), and the OpenAPI contract.
lint: install contract
	$(BIN)/ruff check app tests bench alembic
	$(BIN)/ruff format --check app tests bench alembic
	$(BIN)/lint-imports
	$(BIN)/mypy

# The live OpenAPI document through Spectral (spectral:oas) and Redocly (recommended): any error or
# warning fails. contract/redocly.yaml says which rule is off and why; Redocly sends no telemetry.
contract: install $(NODE_STAMP)
	$(BIN)/python -c 'import json; from app.main import create_app; print(json.dumps(create_app().openapi()))' > contract/openapi.json
	cd contract && npx --no-install spectral lint openapi.json --ruleset .spectral.yaml --fail-severity hint
	cd contract && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly lint openapi.json --config redocly.yaml --max-problems 50

# Load the hot endpoints with wrk (32 connections) against a bare FastAPI app serving the same bytes; the
# table goes to bench/results/. BENCH_SIZE=small|medium, or a name plus BENCH_ARGS="--clinics N --patients N
# --logs N". SQLite by default; HEP_DATABASE_URL=postgresql+psycopg://... benchmarks PostgreSQL.
BENCH_SIZE ?= small
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || sudo apt-get install -y -qq wrk
	@command -v taskset >/dev/null || (apt-get install -y -qq util-linux)
	$(BIN)/python -m bench.run --size $(BENCH_SIZE) $(BENCH_ARGS)
	$(BIN)/python -m bench.webhooks $(BENCH_WEBHOOKS_ARGS)
	$(BIN)/python -m bench.neighbours

# Webhook deliveries/s and commit-to-receipt p50/p99 against a verifying receiver on 127.0.0.1, then one
# clinic's 20 events alone and behind another clinic's 1,000-delivery backlog (refusing, hanging); the
# tables go to bench/results/. BENCH_WEBHOOKS_ARGS="--events N --rate N --mode worker --dispatchers N ...".
bench-webhooks: install
	$(BIN)/python -m bench.webhooks $(BENCH_WEBHOOKS_ARGS)
	$(BIN)/python -m bench.neighbours

# The handout page and the progress chart shown in docs/ (docs/pictures/), drawn from real data by the
# service and rasterised with pip-installed tools (fpdf2, pypdfium2).
docs-pictures: install
	HEP_WRITE_DOCS_PICTURES=1 $(BIN)/python -m pytest tests/test_docs_pictures.py -q

# Time per render of the printable handout (10 items) and of the progress chart, through the API and the
# drawing alone; the table goes to bench/results/<date>-renders.md.
bench-renders: install
	$(BIN)/python -m bench.renders $(BENCH_RENDERS_ARGS)
