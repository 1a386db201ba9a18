"""Waiting for a PostgreSQL store's writes to fall below the watermark a sync will take.

On PostgreSQL a row's ``change_seq`` is its transaction id and a sync moves rows below its snapshot's xmin,
which is cluster-wide: a transaction left open by another client of the shared server holds it back. Once
the xmin has passed every ``change_seq`` in the store, every later snapshot's xmin has too (transactions
that start later get higher ids), so a test that waits here first knows the next sync moves every row.
The xmin is read with plain SQL, not through the sync's code.
"""

from __future__ import annotations

import time

from ledger_pipeline.ledger.store import Store
from tests.warehouse.conftest import max_change_seq


def snapshot_xmin(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.scalar("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)"))


def wait_until_settled(store: Store, timeout: float = 300.0) -> None:
    """Return once every write in the store is below any new snapshot's xmin (at once on DuckDB)."""
    if not store.is_postgres:
        return
    goal = max_change_seq(store)
    deadline = time.monotonic() + timeout
    while snapshot_xmin(store) <= goal:
        assert time.monotonic() < deadline, f"the server's xmin stayed at or below {goal} for {timeout:.0f}s"
        time.sleep(0.2)
