"""Running ``ledger-pipeline`` as an operator does: in a subprocess, with the exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import new_store


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def one_error_line(self) -> str:
        """The single stderr line, checked to be the only one and no traceback."""
        assert len(self.err_lines) == 1, self.err
        assert "Traceback" not in self.err and "╭" not in self.err, self.err
        return self.err_lines[0]


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    full_env.pop("LEDGER_STORE_URL", None)
    if env and "LEDGER_STORE_URL" in env:
        full_env["LEDGER_STORE_URL"] = env["LEDGER_STORE_URL"]
    proc = subprocess.run(
        [sys.executable, "-c", "from ledger_pipeline.cli import app; app()", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def duck_url(tmp_path) -> str:
    """A DuckDB store URL of a file that does not exist yet."""
    return f"duckdb:///{tmp_path / 'store.duckdb'}"


@pytest.fixture
def ready_store(duck_url, request) -> str:
    """An initialised DuckDB store's URL (a copy of the store ``init`` makes: ``new_store``; ``init`` itself runs
    in tests/cli/test_everyday_commands.py)."""
    new_store(duck_url, request)
    return duck_url
