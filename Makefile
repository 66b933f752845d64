# Every target bootstraps .venv first, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test lint format dev sandbox bench bench-webhooks capacity chaos screenshots email-screenshots clean lock audit

$(STAMP): pyproject.toml sandbox/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ./sandbox -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lgl-sync demo

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dev: $(STAMP)
	$(BIN)/lgl-sync dev

sandbox: $(STAMP)
	$(BIN)/lgl-sync sandbox --port 8787

screenshots: $(STAMP)
	docs/ui_screenshots.sh

email-screenshots: $(STAMP)
	$(BIN)/python docs/email_screenshots.py

chaos: $(STAMP)
	$(BIN)/python -m lgl_sync_tests.chaos --seeds 11 22 33

bench: $(STAMP)
	$(BIN)/python -m lgl_sync_tests.bench.run
	$(BIN)/python -m lgl_sync_tests.bench.capacity
	$(BIN)/python -m lgl_sync_tests.bench.fairness
	$(BIN)/python -m lgl_sync_tests.bench.webhooks

# Cost points per 10 minutes at the LGL store and a retailer store, for N retailers, against
# each Shopify plan's refill, from per-operation costs measured through the jobs (~1 min).
capacity: $(STAMP)
	$(BIN)/python -m lgl_sync_tests.bench.capacity

# Webhook latency against polling, production-shaped (receiver and daemon processes, ~15 min).
bench-webhooks: $(STAMP)
	$(BIN)/python -m lgl_sync_tests.bench.webhooks

# The exact versions of everything installed (regenerate after changing a dependency).
lock: $(STAMP)
	@{ echo "# Exact versions \`make\` installs (pip install -c requirements.lock ...): what CI and this README's"; \
	   echo "# numbers ran on. Regenerate after changing pyproject.toml: make lock"; \
	   $(BIN)/pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock

# Known vulnerabilities in the locked versions (asks PyPI's advisory database).
audit: $(STAMP)
	$(BIN)/python -c "import pip_audit" 2> /dev/null || $(BIN)/pip install --quiet 'pip-audit>=2.7,<3'
	$(BIN)/pip-audit -r requirements.lock

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .ruff_cache
