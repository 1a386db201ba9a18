# The README's commands. Each installs what it needs first, so a fresh machine needs only `make`.
SHELL := /bin/bash
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_TELEMETRY_DISABLED := true
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=
PORT ?= 3000
# `make test` runs on pytest-xdist workers, one per core. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: install demo test bench ui lint serve

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@uv sync --frozen --quiet --compile-bytecode
	@mkdir -p $(DAGSTER_HOME) var

demo: install
	uv run ledger-pipeline demo

test: install
	uv run pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

bench: install
	@command -v ledger >/dev/null 2>&1 && test -x /usr/bin/time || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ledger time >/dev/null)
	uv run python -m bench

ui: install
	@test -f $(DAGSTER_HOME)/dagster.yaml || printf 'telemetry:\n  enabled: false\ncode_servers:\n  local_startup_timeout: 600\n' > $(DAGSTER_HOME)/dagster.yaml
	@# `dagster dev` warns that `dg dev` (another package, dagster-dg-cli) supersedes it; it works the same here
	@# the installed command itself, not `uv run`: Ctrl-C then reaches it once, from the terminal, and it waits
	@# for the webserver and the daemon to stop
	PYTHONWARNINGS='ignore:function `dev_command` is superseded' .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

lint: install
	uv run ruff check .

serve: install
	uv run ledger-pipeline serve $(SERVE_ARGS)
