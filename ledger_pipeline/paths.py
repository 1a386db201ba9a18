"""Every filesystem location the project uses, in one place.

Paths are derived from the project root (the folder holding ``pyproject.toml``) when running from a
checkout, and from the current directory otherwise; ``LEDGER_HOME`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _find_project_root() -> Path:
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


PROJECT_ROOT = Path(os.environ.get("LEDGER_HOME", _find_project_root()))
VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_STORE_PATH = VAR_DIR / "ledger.duckdb"
DEFAULT_WAREHOUSE_PATH = VAR_DIR / "warehouse.duckdb"
LANDING_DIR = VAR_DIR / "landing"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MAPPINGS_DIR = PACKAGE_DIR / "ingest" / "mappings"
SCENARIO_DIR = PACKAGE_DIR / "demo" / "scenario"


def relative_path(path: str | Path, base: str | Path | None = None) -> str:
    """``path`` as it is recorded and shown: relative to ``base`` (default: the working directory), with
    ``..`` when it lies outside it, never absolute: a record's reference must not carry the machine's
    folder layout (a home directory, a user name) into the store, its exports and its JSON."""
    target = Path(os.path.abspath(path))
    root = Path(os.path.abspath(base if base is not None else Path.cwd()))
    try:
        return target.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(target, root)).as_posix()
