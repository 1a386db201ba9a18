"""Helpers for the core's tests: a small chart of accounts and batches built from plain dicts.

Every test that takes ``store`` (or ``chart``) runs on DuckDB and on PostgreSQL (see tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, archive_account, ensure_account, ensure_ledger
from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.invariants import check_invariants
from ledger_pipeline.ledger.posting import BatchResult, post_batch
from ledger_pipeline.ledger.store import Store

# name -> (normal balance, currency, exponent or None for the currency's own, min_available)
CHART: dict[str, tuple[str, str, int | None, int | None]] = {
    "cash": ("debit", "USD", None, None),
    "revenue": ("credit", "USD", None, None),
    "payable": ("credit", "USD", None, None),
    "wallet": ("credit", "USD", None, 0),  # a customer wallet that may never go below zero
    "eur_cash": ("debit", "EUR", None, None),
    "eur_revenue": ("credit", "EUR", None, None),
    "jpy_cash": ("debit", "JPY", None, None),
    "jpy_revenue": ("credit", "JPY", None, None),
    "points": ("credit", "POINTS", None, None),
    "points_pool": ("debit", "POINTS", None, None),
    "retired": ("debit", "USD", None, None),  # archived by the fixture
}


def create_chart(store: Store, ledger: str = "main") -> dict[str, str]:
    ids = {}
    with store.transaction() as conn:
        ensure_ledger(conn, ledger)
        for name, (normal, currency, exponent, min_available) in CHART.items():
            ids[name] = ensure_account(conn, ledger, AccountSpec(
                name=name, normal_balance=normal, currency=currency, currency_exponent=exponent,
                min_available_balance=min_available))
        archive_account(conn, ledger, "retired")
    return ids


@pytest.fixture
def chart(store) -> dict[str, str]:
    """The store with ``CHART`` created in ledger ``main``; returns account name -> id."""
    return create_chart(store)


def batch(rows: Iterable[Mapping[str, Any]], source_name: str = "test") -> pa.Table:
    """A staged batch from dicts; values become text as a CSV would give them (None stays null)."""
    rows = list(rows)
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    columns = {n: pa.array([None if r.get(n) is None else str(r[n]) for r in rows], pa.string()) for n in names}
    return normalise_entries(pa.table(columns), source_name=source_name, first_line=1)


def tx(external_id: str, *legs: tuple[str, str, Any], **header: Any) -> list[dict[str, Any]]:
    """Entry rows of one transaction: ``legs`` are (account, direction, amount in major units)."""
    return [
        {"external_id": external_id, "account": account, "direction": direction, "amount": amount, **header}
        for account, direction, amount in legs
    ]


def post(store: Store, rows: Iterable[Mapping[str, Any]], **kwargs: Any) -> BatchResult:
    return post_batch(store, batch(rows), **kwargs)


def balances(store: Store, **kwargs: Any) -> dict[str, dict[str, Any]]:
    with store.connect() as conn:
        return {row["account"]: row for row in account_balances(conn, **kwargs)}


def amounts(store: Store, kind: str = "posted", **kwargs: Any) -> dict[str, int]:
    """``{account: <kind>_amount}`` for accounts with a non-zero balance of that kind."""
    return {name: row[f"{kind}_amount"] for name, row in balances(store, **kwargs).items() if row[f"{kind}_amount"]}


def invariant_violations(store: Store) -> list:
    with store.connect() as conn:
        return check_invariants(conn)


def counts(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return {
            table: int(conn.scalar(f"SELECT count(*) FROM {table}"))
            for table in ("ledger_transactions", "ledger_entries", "quarantine")
        }


def reasons(result: BatchResult) -> dict[str, set[str]]:
    """``{external_id or tx_key: {reason codes}}`` of a batch's violations."""
    found: dict[str, set[str]] = {}
    for violation in result.violations:
        found.setdefault(violation.tx_key, set()).add(violation.reason_code)
    return found


def sequential_scans(url: str, schema: str, tables: tuple[str, ...]) -> dict[str, int]:
    """PostgreSQL's count of sequential scans of each of ``tables`` in ``schema``, as published so far (a
    backend publishes its counts when idle, at most once a second, or at once after
    ``pg_stat_force_next_flush()``)."""
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        return dict(conn.execute("SELECT relname, seq_scan FROM pg_stat_user_tables WHERE schemaname = %s "
                                 "AND relname = ANY(%s)", (schema, list(tables))).fetchall())
