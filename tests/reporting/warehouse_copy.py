"""Fill a test warehouse from a ledger store with the real sync (``ledger_pipeline.warehouse``).

DuckDB: a warehouse file of its own, schema ``main`` (the sync's default, and the dbt source default).
PostgreSQL: a schema ``rpt_<hex>_wh`` in the test database, next to the dbt schema ``rpt_<hex>``.
"""

from __future__ import annotations

from pathlib import Path

from ledger_pipeline.ledger.store import Store
from ledger_pipeline.warehouse import SyncResult, TargetConfig, sync_target


def duckdb_target(warehouse_path: Path) -> TargetConfig:
    return TargetConfig("rpt_duckdb", "duckdb", {"path": str(warehouse_path), "schema": "main",
                                                 "retry": {"attempts": 1}})


def postgres_target(pg_url: str, schema: str) -> TargetConfig:
    return TargetConfig("rpt_postgres", "postgres", {"url": pg_url, "schema": schema, "retry": {"attempts": 1}})


def sync(store: Store, target: TargetConfig) -> SyncResult:
    return sync_target(store, target)
