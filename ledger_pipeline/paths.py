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
