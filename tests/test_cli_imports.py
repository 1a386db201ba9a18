"""The command line's imports: the domain packages do not know it, and ``ledger-pipeline --help`` does not
load the data stack (pyarrow, the database drivers, Dagster), which the commands import when they run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ledger_pipeline

PACKAGE = Path(ledger_pipeline.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_cli_imports_typer_or_rich():
    offenders = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                       if "cli" not in path.relative_to(PACKAGE).parts[:1]
                       and _imported_roots(path) & {"typer", "rich"})
    assert offenders == []


def test_the_cli_starts_without_the_data_stack():
    heavy = ("pyarrow", "duckdb", "psycopg", "dagster")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ledger_pipeline.cli; "
         f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_reconcile_window_default_is_the_runners():
    from ledger_pipeline.cli import reconcile
    from ledger_pipeline.reconcile.runner import DEFAULT_WINDOW_DAYS

    assert reconcile.DEFAULT_WINDOW_DAYS == DEFAULT_WINDOW_DAYS
