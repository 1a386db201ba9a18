"""An oracle for "the warehouse equals the ledger" that shares nothing with the sync's extract.

The ledger side is plain SQL over the store's own tables, written here (``SELECT *``, and for balances the
join with the accounts and Modern Treasury's posted/pending/available amounts derived in Python from the
four stored sums), so a bug in ``warehouse.extract`` (a row dropped, a column mixed up, a wrong window, a
wrong balance formula) shows as a difference instead of appearing on both sides. The two sides are compared
row by row (primary key) and column by column, ``_version`` against the store's ``change_seq`` and
``raw_json`` against the row it was taken from.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ledger_pipeline.ledger.store import Store

# Store tables the sync publishes under the same name, by primary key.
PUBLISHED: dict[str, tuple[str, ...]] = {
    "ledgers": ("id",),
    "ledger_accounts": ("id",),
    "ledger_transactions": ("id",),
    "ledger_entries": ("id",),
    "events": ("id",),
    "recon_runs": ("id",),
    "recon_balance_variances": ("id",),
    "recon_matches": ("id",),
    "recon_match_items": ("match_id", "side", "item_id"),
    "recon_unmatched": ("side", "item_id", "ledger_account_id"),
    "ledger_account_categories": ("id",),
    "ledger_account_category_accounts": ("category_id", "ledger_account_id"),
    "ledger_account_category_children": ("parent_category_id", "child_category_id"),
    "quarantine": ("id",),
    "audit_log": ("id",),
    "internal_accounts": ("id",),
    "external_accounts": ("id",),
    "bank_statements": ("id",),
    "bank_statement_lines": ("id",),
    "payment_orders": ("id",),
    "processor_settlement_items": ("id",),
}
# Store columns that are not published (internal to the reconciliation engine).
NOT_PUBLISHED: dict[str, set[str]] = {
    "recon_matches": {"bank_item_id", "ledger_item_id", "bank_item_date", "ledger_item_date"},
}
BALANCES = "ledger_account_balances"
BALANCES_SQL = (
    "SELECT b.ledger_account_id, a.ledger_id, a.currency, a.currency_exponent, a.normal_balance, "
    "b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.lock_version, b.updated_at, "
    "b.change_seq FROM ledger_account_balances b JOIN ledger_accounts a ON a.id = b.ledger_account_id"
)
SYNC_COLUMNS = ("raw_json", "_version", "_synced_at")


JSON_COLUMNS = ("metadata", "detail")


def _as_json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def normalise(value: Any) -> Any:
    """One comparable spelling of a value whichever database returned it: integers for numbers (money is
    integral), ISO text in UTC for instants, ISO text for dates."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (dict, list)):  # a JSON column the driver decoded (jsonb)
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (int, Decimal)):
        assert value == int(value), f"non-integral number {value!r}"
        return int(value)
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise AssertionError(f"unexpected value type {type(value).__name__}: {value!r}")


def _with_amounts(row: dict) -> dict:
    """Posted, pending and available debits, credits and amounts (Modern Treasury's definitions): amounts
    are signed by the normal balance; available = posted inflows minus pending-and-posted outflows."""
    posted_dr, posted_cr = int(row["posted_debits"]), int(row["posted_credits"])
    pending_dr, pending_cr = int(row["pending_debits"]), int(row["pending_credits"])
    if row["normal_balance"] == "credit":
        posted, pending = posted_cr - posted_dr, pending_cr - pending_dr
        available_dr, available_cr, available = pending_dr, posted_cr, posted_cr - pending_dr
    else:
        posted, pending = posted_dr - posted_cr, pending_dr - pending_cr
        available_dr, available_cr, available = posted_dr, pending_cr, posted_dr - pending_cr
    return {**row, "posted_amount": posted, "pending_amount": pending, "available_debits": available_dr,
            "available_credits": available_cr, "available_amount": available}


def store_tables(store: Store) -> dict[str, tuple[tuple[str, ...], list[dict]]]:
    """Every published table of the store as ``{name: (primary key, rows)}``, read in one transaction."""
    with store.connect(read_only=True) as conn:
        present = {r[0] for r in conn.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        if conn.is_postgres:
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            conn.raw.execute("BEGIN TRANSACTION")
        try:
            tables = {}
            for name, key in PUBLISHED.items():
                if name in present:
                    hidden = NOT_PUBLISHED.get(name, set())
                    rows = [{c: v for c, v in row.items() if c not in hidden}
                            for row in conn.dicts(f'SELECT * FROM "{name}"')]
                    tables[name] = (key, rows)
            if BALANCES in present:
                tables[BALANCES] = (("ledger_account_id",), [_with_amounts(r) for r in conn.dicts(BALANCES_SQL)])
            return tables
        finally:
            conn.raw.execute("ROLLBACK")


def warehouse_tables(destination, names) -> dict[str, list[dict]]:
    """The rows of each destination table among ``names`` that exists."""
    found = {}
    for name in names:
        try:
            found[name] = destination.fetch_rows(name)
        except Exception:  # noqa: BLE001 - "no such table" differs per destination
            if destination.dialect in ("postgres", "redshift"):
                destination.conn.rollback()
    return found


EPOCH = "1970-01-01T00:00:00+00:00"


def differences(store_side: dict, warehouse_side: dict, null_instant_reads_as_epoch: bool = False) -> list[str]:
    """What differs between the store's published tables and the warehouse's, as readable lines.

    ``null_instant_reads_as_epoch``: the destination's client returns a NULL timestamp as 1970-01-01 (the
    fakesnow server encodes Snowflake's timestamp structs without their null mask), so a NULL in the store
    matches that instant there, and nothing else does."""
    problems: list[str] = []
    if set(warehouse_side) != set(store_side):
        problems.append(f"tables: store {sorted(store_side)} warehouse {sorted(warehouse_side)}")
    for name in sorted(set(store_side) & set(warehouse_side)):
        key, rows = store_side[name]
        expected = {}
        for row in rows:
            pk = tuple(row[c] for c in key)
            expected[pk] = {c: normalise(v) for c, v in row.items() if c != "change_seq"} | {
                "_version": int(row["change_seq"])}
        got = {}
        for row in warehouse_side[name]:
            pk = tuple(row[c] for c in key)
            if pk in got:
                problems.append(f"{name}: primary key {pk} twice in the warehouse")
            got[pk] = row
        missing, extra = expected.keys() - got.keys(), got.keys() - expected.keys()
        if missing:
            problems.append(f"{name}: {len(missing)} store rows missing from the warehouse, e.g. {sorted(missing)[:3]}")
        if extra:
            problems.append(f"{name}: {len(extra)} warehouse rows not in the store, e.g. {sorted(extra)[:3]}")
        if rows and warehouse_side[name]:
            data_columns = set(warehouse_side[name][0]) - {"raw_json", "_synced_at"}
            store_columns = set(next(iter(expected.values())))
            if data_columns != store_columns:
                problems.append(f"{name}: columns only in the store {sorted(store_columns - data_columns)}, "
                                f"only in the warehouse {sorted(data_columns - store_columns)}")
        mismatched = []
        for pk in sorted(expected.keys() & got.keys()):
            want, have = expected[pk], got[pk]
            for column, value in want.items():
                if column not in have:
                    continue
                got_value = normalise(have[column])
                if column in JSON_COLUMNS:  # published as the warehouse's JSON type: compared as JSON
                    value, got_value = _as_json(value), _as_json(got_value)
                if got_value != value and not (
                        null_instant_reads_as_epoch and value is None and got_value == EPOCH):
                    mismatched.append(f"{name}{pk}.{column}: store {value!r} warehouse {got_value!r}")
            if have.get("raw_json") is not None:  # raw_json is published only where a target asks for it
                raw = json.loads(have["raw_json"])
                if tuple(raw.get(c) for c in key) != pk or raw.get("change_seq") != want["_version"]:
                    mismatched.append(f"{name}{pk}.raw_json: {have['raw_json'][:200]}")
        if mismatched:
            problems.append(f"{name}: {len(mismatched)} values differ, e.g. " + "; ".join(mismatched[:5]))
    return problems


def assert_warehouse_equals_store(store: Store, destination, null_instant_reads_as_epoch: bool = False) -> None:
    """Every published table: same primary keys, each exactly once, every column equal (the destination is
    opened and closed here)."""
    store_side = store_tables(store)
    destination.open()
    try:
        warehouse_side = warehouse_tables(destination, store_side)
    finally:
        destination.close()
    problems = differences(store_side, warehouse_side, null_instant_reads_as_epoch)
    assert not problems, "the warehouse differs from the store:\n" + "\n".join(problems)
