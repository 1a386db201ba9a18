"""Versioned migrations: a store made with the first released schema upgrades in place with
``ledger-pipeline migrate``, keeps its rows, passes the ledger's invariants and takes new posts; its
catalog then equals a new store's (which ``initialize_store`` creates from the metadata). Both engines.

The old stores are written with the first release's own DDL (the frozen text of revisions 0001-0003, which
is that release's DDL as it ran) and plain SQL, as that release stored them: ``schema_info`` versions, no
Alembic revision.

Revision 0010 made the ledger's ids native UUIDs: an old store's text ids are converted (a UUID in its text form
becomes that UUID, any other id the UUID of its md5 under ``ledger-pipeline:``), and so is every column that
refers to one, text columns included; ``new_id`` is that mapping, computed here in Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from ledger_pipeline import migrations
from ledger_pipeline.cli import app
from ledger_pipeline.ledger.invariants import check_invariants
from ledger_pipeline.ledger.staging import create_helper_functions
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.migrations import HEAD, revision_from_components
from ledger_pipeline.migrations.steps import frozen_ddl
from ledger_pipeline.migrations.upgrade import script_directory
from ledger_pipeline.store_setup import COMPONENT_VERSIONS, initialize_store
from tests.conftest import pg_schema

runner = CliRunner()
VERSIONS = Path(migrations.__file__).parent / "versions"
# the revision that holds each component's first released DDL
FIRST_VERSION = {"core": "0001_core", "ingest": "0002_ingest", "reconcile": "0003_reconcile"}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
# (the revision such a store is at, the components it has): the first release of the core, and the first
# release of reconciliation (whose match items were one table, before compact matches).
OLD_STORES = {"0001": ("core",), "0003": ("core", "ingest", "reconcile")}
LEDGER_TABLES = ("ledgers", "ledger_accounts", "ledger_account_balances", "ledger_transactions", "ledger_entries")
RECON_TABLES = ("internal_accounts", "bank_statements", "bank_statement_lines", "recon_matches",
                "recon_match_items", "raw_records")
# sha256 (first 16 hex digits) of the statements each revision's upgrade executes on an empty database of each
# engine: see test_released_revisions_execute_the_same_statements
RELEASED_STATEMENTS = {
    "duckdb": {"0001": "6ed9b7868befef8b", "0002": "6060115a7cf5bbff", "0003": "ce87d7c48b8831f7",
               "0004": "57b0c1c150c584f1", "0005": "6f9dd1a427e0fca0", "0006": "823d9c48bfd0a7f5",
               "0007": "830e66e93ea3fd84", "0008": "a97c5c369cc256f2", "0009": "4f53cda18c2baa0c",
               "0010": "a8fd5c57894e07ff"},
    "postgres": {"0001": "d9742d92bbbbef47", "0002": "eb321f324266a8ce", "0003": "df2165575defbfa5",
                 "0004": "c60fc01b3e57e7aa", "0005": "ec5aaa6317c7acc6", "0006": "147e9e8bd362fca9",
                 "0007": "4d3f5a3797f7f425", "0008": "07e4cc6145eff444", "0009": "cdf9020c12da3554",
                 "0010": "4d1ab155cf873f10"},
}

# Revision 0010: the columns holding ledger ids, per table (UUID columns since 0010, and the text columns that
# refer to them), and the text columns holding one on some rows only (column, the rows' condition).
ID_COLUMNS = {
    "ledgers": ("id",), "ledger_accounts": ("id", "ledger_id"), "ledger_account_categories": ("id", "ledger_id"),
    "ledger_account_category_accounts": ("category_id", "ledger_account_id"),
    "ledger_account_category_children": ("parent_category_id", "child_category_id"),
    "ledger_account_balances": ("ledger_account_id",), "ledger_transactions": ("id", "ledger_id", "reverses_id"),
    "ledger_entries": ("id", "ledger_transaction_id", "ledger_account_id"),
    "payment_orders": ("ledger_transaction_id",), "recon_balance_variances": ("ledger_account_id",),
    "recon_matches": ("ledger_account_id", "ledger_item_id"), "recon_match_items": ("ledger_account_id",),
    "recon_match_group_items": ("ledger_account_id",), "recon_unmatched": ("ledger_account_id",),
}
LEDGER_OBJECT_TYPES = {"ledger", "ledger_account", "ledger_account_category", "ledger_transaction", "ledger_entry"}
CONDITIONAL_ID_COLUMNS = {
    **dict.fromkeys(("recon_match_items", "recon_match_group_items", "recon_unmatched"),
                    ("item_id", lambda row: row["side"] == "ledger")),
    **dict.fromkeys(("audit_log", "events"), ("object_id", lambda row: row["object_type"] in LEDGER_OBJECT_TYPES)),
}
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# the id of the old stores' ledger ``main`` once migrated (docs/design.md gives it as the example)
MAIN_LEDGER_ID = "78878430-2bd2-550b-e3e3-e1245397338d"
# ids of an old store that are UUIDs in text form: lower case (kept as they are) and upper case (lower-cased)
WALLET_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
TX_UUID = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A60"
ENTRY_UUID = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A61"
CATEGORY_UUID = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A62"
# more tables an old store has rows in (those its revision has)
MORE_TABLES = ("audit_log", "events", "payment_orders", "recon_balance_variances", "recon_unmatched",
               "recon_match_group_items", "ledger_account_categories", "ledger_account_category_accounts",
               "ledger_account_category_children")


def new_id(old: str | None) -> str | None:
    """The id that revision 0010 gives a text id: the UUID it spells, else the UUID of the md5 of
    ``ledger-pipeline:`` and the id; in canonical text."""
    if old is None:
        return None
    if UUID_TEXT.fullmatch(old):
        return str(uuid.UUID(old))
    return str(uuid.UUID(hashlib.md5(f"ledger-pipeline:{old}".encode()).hexdigest()))


def _migrated_row(table: str, row: dict) -> dict:
    """An old store's row as revision 0010 leaves it."""
    row = row | {column: new_id(row[column]) for column in ID_COLUMNS.get(table, ()) if column in row}
    if table in CONDITIONAL_ID_COLUMNS:
        column, holds_id = CONDITIONAL_ID_COLUMNS[table]
        if holds_id(row):
            row[column] = new_id(row[column])
    return row


def _executed_statements(store: Store) -> dict[str, list[tuple]]:
    """Every revision's ``upgrade``, run in order on an empty database: the statements it executes, with their
    parameters, per revision."""
    engine = store.engine.sqlalchemy_engine()
    executed: list[tuple] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, parameters, *_: executed.append((statement, parameters)))
    by_revision = {}
    try:
        with engine.connect() as conn, conn.begin(), Operations.context(MigrationContext.configure(conn)):
            for script in reversed(list(script_directory().walk_revisions())):
                executed.clear()
                script.module.upgrade()
                by_revision[script.revision] = list(executed)
    finally:
        engine.dispose()
    return by_revision


def _create_old_store(store: Store, components: tuple[str, ...]) -> None:
    with store.transaction() as conn:
        for component in components:
            tables, postgres_indexes = frozen_ddl(str(VERSIONS / f"{FIRST_VERSION[component]}.py"))
            conn.execute_script(tables)
            if store.is_postgres:
                conn.execute_script(postgres_indexes)
            conn.execute("INSERT INTO schema_info (component, version) VALUES (:c, 1)", {"c": component})
        create_helper_functions(conn)
        _write_ledger(conn)
        if "reconcile" in components:
            _write_reconciliation(conn)


def _write_ledger(conn: Connection) -> None:
    """A ledger with two accounts, one posted and one pending transaction, and their balances."""
    seq = "nextval('ledger_change_seq')"
    conn.execute(f"INSERT INTO ledgers (id, name, description, created_at, updated_at, change_seq) "
                 f"VALUES ('ldg_main', 'main', 'Default ledger', :now, :now, {seq})", {"now": NOW})
    for account, normal, debits, credits, pending_debits, pending_credits in (
            ("cash", "debit", 135000, 0, 185000, 0), ("revenue", "credit", 0, 135000, 0, 185000)):
        conn.execute(
            "INSERT INTO ledger_accounts (id, ledger_id, name, normal_balance, currency, currency_exponent, "
            f"created_at, updated_at, change_seq) VALUES (:id, 'ldg_main', :name, :normal, 'USD', 2, :now, :now, {seq})",
            {"id": f"la_{account}", "name": account, "normal": normal, "now": NOW})
        conn.execute(
            "INSERT INTO ledger_account_balances (ledger_account_id, posted_debits, posted_credits, pending_debits, "
            f"pending_credits, updated_at, change_seq) VALUES (:id, :pd, :pc, :nd, :nc, :now, {seq})",
            {"id": f"la_{account}", "pd": debits, "pc": credits, "nd": pending_debits, "nc": pending_credits, "now": NOW})
    for tx, status, amount in (("tx_1", "posted", 135000), ("tx_2", "pending", 50000)):
        conn.execute(
            "INSERT INTO ledger_transactions (id, ledger_id, external_id, status, effective_at, posted_at, "
            f"created_at, updated_at, payload_hash, change_seq) VALUES (:id, 'ldg_main', :id, :status, :now, "
            f":posted, :now, :now, 'h', {seq})",
            {"id": tx, "status": status, "now": NOW, "posted": NOW if status == "posted" else None})
        for account, direction in (("cash", "debit"), ("revenue", "credit")):
            conn.execute(
                "INSERT INTO ledger_entries (id, ledger_transaction_id, ledger_account_id, direction, amount, "
                f"currency, status, effective_at, created_at, change_seq) VALUES (:id, :tx, :account, :direction, "
                f":amount, 'USD', :status, :now, :now, {seq})",
                {"id": f"{tx}_{account}", "tx": tx, "account": f"la_{account}", "direction": direction, "amount": amount,
                 "status": status, "now": NOW})


def _write_reconciliation(conn: Connection) -> None:
    """A bank account with one statement line matched one-to-one to ``tx_1``, and a landed raw record."""
    conn.execute("INSERT INTO internal_accounts (id, name, account_identifier, currency, created_at, updated_at, "
                 "change_seq) VALUES ('ia_1', 'operating', '000123', 'USD', :now, :now, 1)", {"now": NOW})
    conn.execute("INSERT INTO bank_statements (id, internal_account_id, account_identifier, statement_date, "
                 "closing_balance, currency, line_count, created_at, change_seq) VALUES ('st_1', 'ia_1', '000123', "
                 "'2025-01-02', 135000, 'USD', 1, :now, 1)", {"now": NOW})
    conn.execute("INSERT INTO bank_statement_lines (id, statement_id, internal_account_id, line_no, line_date, "
                 "amount, currency, created_at, change_seq) VALUES ('bl_1', 'st_1', 'ia_1', 1, '2025-01-02', "
                 "135000, 'USD', :now, 1)", {"now": NOW})
    conn.execute("INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, bank_count, "
                 "ledger_count, bank_total, ledger_total, created_by, created_at, change_seq) VALUES "
                 "('m_1', 'ia_1', 'la_cash', 'exact', 1, 1, 135000, 135000, 'run', :now, 1)", {"now": NOW})
    for side, item in (("bank", "bl_1"), ("ledger", "tx_1")):
        conn.execute("INSERT INTO recon_match_items (match_id, side, item_id, internal_account_id, "
                     "ledger_account_id, item_date, amount, change_seq) VALUES ('m_1', :side, :item, 'ia_1', "
                     "'la_cash', '2025-01-02', 135000, 1)", {"side": side, "item": item})
    conn.execute("INSERT INTO raw_records (source, stream, object_id, record_hash, raw_json, fields_json, "
                 "landed_at, batch_id, change_seq) VALUES ('bank', 'lines', 'bl_1', 'h', '{}', '{}', :now, 'b', 1)",
                 {"now": NOW})


def _create_store_at(store: Store, revision: str) -> None:
    """A store as the release at ``revision`` (0004 or later) created it (the revisions' own DDL, run in order up
    to it) and recorded it (``alembic_version``), with the rows of ``_write_ledger`` and ``_write_text_ids``."""
    engine = store.engine.sqlalchemy_engine()
    try:
        with engine.connect() as conn, conn.begin():
            context = MigrationContext.configure(conn)
            with Operations.context(context):
                for script in reversed(list(script_directory().walk_revisions())):
                    if script.revision > revision:
                        break
                    script.module.upgrade()
            context.stamp(script_directory(), revision)
    finally:
        engine.dispose()
    with store.transaction() as conn:
        create_helper_functions(conn)
        _write_ledger(conn)
        _write_text_ids(conn, revision)


def _write_text_ids(conn: Connection, revision: str) -> None:
    """Rows of an old store at ``revision`` (0003, with ``_write_reconciliation``'s, or later) with ids that
    are UUIDs in text form besides the others, and every kind of row that refers to a ledger id: a
    transaction to an account of a UUID id, a reversal, audit rows and events of ledger objects and of others, a payment order, reconciliation's ledger
    accounts and items and, from 0007, categories. Balances are recomputed from the entries."""
    seq = "nextval('ledger_change_seq')"
    now = {"now": NOW}
    conn.execute("INSERT INTO ledger_accounts (id, ledger_id, name, normal_balance, currency, currency_exponent, "
                 f"created_at, updated_at, change_seq) VALUES (:id, 'ldg_main', 'wallet', 'credit', 'USD', 2, :now, "
                 f":now, {seq})", {"id": WALLET_ID, **now})
    for tx, external_id, reverses, entries in (
            (TX_UUID, "tx_uuid", None, ((ENTRY_UUID, "la_cash", "debit"), ("tx_uuid_wallet", WALLET_ID, "credit"))),
            ("tx_1_reversal", "tx_1_reversal", "tx_1",
             (("tx_1_reversal_cash", "la_cash", "credit"), ("tx_1_reversal_revenue", "la_revenue", "debit")))):
        amount = 2500 if reverses is None else 135000
        conn.execute(
            "INSERT INTO ledger_transactions (id, ledger_id, external_id, status, effective_at, posted_at, "
            "created_at, updated_at, reverses_id, payload_hash, change_seq) VALUES (:id, 'ldg_main', :external_id, "
            f"'posted', :now, :now, :now, :now, :reverses, 'h', {seq})",
            {"id": tx, "external_id": external_id, "reverses": reverses, **now})
        for entry, account, direction in entries:
            conn.execute(
                "INSERT INTO ledger_entries (id, ledger_transaction_id, ledger_account_id, direction, amount, "
                f"currency, status, effective_at, created_at, change_seq) VALUES (:id, :tx, :account, :direction, "
                f":amount, 'USD', 'posted', :now, :now, {seq})",
                {"id": entry, "tx": tx, "account": account, "direction": direction, "amount": amount, **now})
    conn.execute("DELETE FROM ledger_account_balances")
    conn.execute(
        "INSERT INTO ledger_account_balances (ledger_account_id, posted_debits, posted_credits, pending_debits, "
        "pending_credits, updated_at, change_seq) SELECT a.id, "
        + ", ".join(f"COALESCE(sum(CASE WHEN {status} AND e.direction = '{direction}' THEN e.amount END), 0)"
                    for status in ("e.status = 'posted'", "e.status <> 'archived'") for direction in ("debit", "credit"))
        + f", :now, {seq} FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.ledger_account_id = a.id "
        "GROUP BY a.id", now)
    for i, (object_type, object_id) in enumerate((
            ("ledger", "ldg_main"), ("ledger_account", "la_cash"), ("ledger_account", WALLET_ID),
            ("ledger_transaction", "tx_1"), ("ledger_transaction", TX_UUID), ("ledger_entry", "tx_1_cash"),
            ("ledger_account_category", "cat_assets"), ("batch", "batch_1"), ("quarantine", "q_1"),
            ("internal_account", "ia_1"), ("bank_statement", None))):
        conn.execute("INSERT INTO audit_log (id, occurred_at, actor, action, object_type, object_id, detail, "
                     f"change_seq) VALUES (:id, :now, 'cli', 'create', :type, :object_id, '{{}}', {seq})",
                     {"id": f"au_{i}", "type": object_type, "object_id": object_id, **now})
    for i, (event_type, object_type, object_id) in enumerate((
            ("ledger_transaction.created", "ledger_transaction", "tx_1"),
            ("ledger_transaction.created", "ledger_transaction", TX_UUID),
            ("payment_order.auto_ledgered", "payment_order", "po_1"))):
        conn.execute("INSERT INTO events (id, event_type, object_type, object_id, data, created_at, change_seq) "
                     f"VALUES (:id, :event_type, :type, :object_id, '{{}}', :now, {seq})",
                     {"id": f"ev_{i}", "event_type": event_type, "type": object_type, "object_id": object_id, **now})
    for po, tx in (("po_1", "tx_1"), ("po_2", None)):
        conn.execute("INSERT INTO payment_orders (id, direction, amount, currency, originating_account_id, "
                     "receiving_account_id, status, effective_date, ledger_transaction_id, created_at, updated_at, "
                     "change_seq) VALUES (:id, 'credit', 135000, 'USD', 'ia_1', 'ea_1', 'completed', '2025-01-02', "
                     ":tx, :now, :now, 1)", {"id": po, "tx": tx, **now})
    conn.execute("INSERT INTO recon_balance_variances (id, internal_account_id, ledger_account_id, statement_id, "
                 "statement_date, currency, ledger_balance, bank_balance, variance, run_id, computed_at, change_seq) "
                 "VALUES ('rv_1', 'ia_1', 'la_cash', 'st_1', '2025-01-02', 'USD', 0, 0, 0, 'run_1', :now, 1)", now)
    for side, item in (("ledger", "tx_1_reversal"), ("bank", "bl_9")):
        conn.execute("INSERT INTO recon_unmatched (side, item_id, internal_account_id, ledger_account_id, item_date, "
                     "amount, currency, reason, age_days, as_of, status, first_run_id, last_run_id, change_seq) "
                     "VALUES (:side, :item, 'ia_1', 'la_cash', '2025-01-02', -135000, 'USD', 'no_candidate', 0, "
                     "'2025-01-02', 'open', 'run_1', 'run_1', 1)", {"side": side, "item": item})
    conn.execute("INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, bank_count, "
                 "ledger_count, bank_total, ledger_total, created_by, created_at, change_seq) VALUES ('m_2', "
                 "'ia_1', :wallet, 'group', 1, 1, 2500, 2500, 'run', :now, 1)", {"wallet": WALLET_ID, **now})
    # a group's items (before 0004 every match's items were rows of recon_match_items)
    items = "recon_match_items" if revision < "0004" else "recon_match_group_items"
    for side, item in (("bank", "bl_2"), ("ledger", TX_UUID)):
        conn.execute(f"INSERT INTO {items} (match_id, side, item_id, internal_account_id, ledger_account_id, "
                     "item_date, amount, change_seq) VALUES ('m_2', :side, :item, 'ia_1', :wallet, '2025-01-02', "
                     "2500, 1)", {"side": side, "item": item, "wallet": WALLET_ID})
    if revision >= "0004":  # (before, _write_reconciliation's match) a one-to-one match keeps its items on its row
        conn.execute("INSERT INTO internal_accounts (id, name, account_identifier, currency, created_at, "
                     "updated_at, change_seq) VALUES ('ia_1', 'operating', '000123', 'USD', :now, :now, 1)", now)
        conn.execute("INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, bank_count, "
                     "ledger_count, bank_total, ledger_total, created_by, created_at, change_seq, bank_item_id, "
                     "bank_item_date, ledger_item_id, ledger_item_date) VALUES ('m_1', 'ia_1', 'la_cash', 'exact', "
                     "1, 1, 135000, 135000, 'run', :now, 1, 'bl_1', '2025-01-02', 'tx_1', '2025-01-02')", now)
    if revision >= "0007":
        for category, name in (("cat_assets", "assets"), (CATEGORY_UUID, "cash_like")):
            conn.execute("INSERT INTO ledger_account_categories (id, ledger_id, name, normal_balance, created_at, "
                         f"updated_at, change_seq) VALUES (:id, 'ldg_main', :name, 'debit', :now, :now, {seq})",
                         {"id": category, "name": name, **now})
        for category, account in (("cat_assets", "la_cash"), (CATEGORY_UUID, WALLET_ID)):
            conn.execute("INSERT INTO ledger_account_category_accounts (category_id, ledger_account_id, created_at, "
                         f"updated_at, change_seq) VALUES (:category, :account, :now, :now, {seq})",
                         {"category": category, "account": account, **now})
        conn.execute("INSERT INTO ledger_account_category_children (parent_category_id, child_category_id, "
                     f"created_at, updated_at, change_seq) VALUES ('cat_assets', :child, :now, :now, {seq})",
                     {"child": CATEGORY_UUID, **now})


def _named_rows(store: Store, tables: tuple[str, ...]) -> dict[str, list[dict]]:
    """Each table's rows (of the tables the store has), as dicts."""
    with store.connect(read_only=True) as conn:
        present = {t for (t,) in conn.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        return {t: conn.dicts(f"SELECT * FROM {t}") for t in tables if t in present}


def _as_migrated(before: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """An old store's rows (``_named_rows``) as revision 0010 leaves them, in their columns, sorted."""
    return {t: sorted((tuple(_migrated_row(t, row).values()) for row in rows), key=repr)
            for t, rows in before.items() if rows}


def _in_columns(after: dict[str, list[dict]], before: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """The rows of ``after`` in the columns the same tables had ``before`` (a table may have gained some)."""
    return {t: sorted((tuple(row[c] for c in rows[0]) for row in after[t]), key=repr)
            for t, rows in before.items() if rows}


def _rows(store: Store, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    with store.connect(read_only=True) as conn:
        present = {t for (t,) in conn.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        return {t: sorted(conn.all(f"SELECT * FROM {t}")) for t in tables if t in present}


def _catalog(store: Store) -> dict[str, list[tuple]]:
    """Tables and views, columns with their types, defaults and nullability, indexes, constraints, sequences."""
    schema = "table_schema = current_schema()"
    queries = {
        "tables": f"SELECT table_name, table_type FROM information_schema.tables WHERE {schema}",
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, numeric_precision, numeric_scale, "
                   f"is_nullable, column_default FROM information_schema.columns WHERE {schema}",
    }
    if store.is_postgres:
        queries |= {
            "indexes": "SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes "
                       "WHERE schemaname = current_schema()",
            "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE connamespace = CAST(current_schema() AS regnamespace)",
            "sequences": "SELECT sequence_name, data_type, start_value, increment FROM information_schema.sequences "
                         "WHERE sequence_schema = current_schema()",
        }
    else:
        queries |= {
            "indexes": "SELECT table_name, index_name, is_unique, sql FROM duckdb_indexes() "
                       "WHERE schema_name = current_schema()",
            "constraints": "SELECT table_name, constraint_type, constraint_text, constraint_column_names "
                           "FROM duckdb_constraints() WHERE schema_name = current_schema()",
            # (no start_value: a reopened file reports the sequence's next value there)
            "sequences": "SELECT sequence_name, increment_by, min_value, max_value, cycle FROM duckdb_sequences() "
                         "WHERE schema_name = current_schema()",
        }
    with store.connect(read_only=True) as conn:
        return {name: sorted(tuple(str(v) for v in row) for row in conn.all(sql)) for name, sql in queries.items()}


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it, in a process of its own."""
    return subprocess.run([sys.executable, "-m", "ledger_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=300)


def _migrate(store: Store, *, own_process: bool = False) -> dict:
    if own_process:
        done = _cli("migrate", "--store", store.url, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["data"]
    result = runner.invoke(app, ["migrate", "--store", store.url, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["data"]


def test_head_is_alembics_head_and_schema_info_maps_to_it():
    assert script_directory().get_current_head() == HEAD
    assert revision_from_components({"core": 1, "ingest": 1, "reconcile": 2}) == "0004"
    assert revision_from_components({"core": 1, "ingest": 1, "reconcile": 3}) == "0005"
    revisions = [s.revision for s in script_directory().walk_revisions()]
    assert revisions[-1] == "0001"
    assert {revision_from_components(dict.fromkeys(c, 1)) for c in OLD_STORES.values()} == set(OLD_STORES)


def test_released_revisions_execute_the_same_statements(store_url):
    """A released revision's DDL is frozen: what each one executes on each engine is the text it ran when
    released (sha256 of its statements and their parameters)."""
    engine = "postgres" if store_url.startswith("postgresql") else "duckdb"
    executed = _executed_statements(Store(store_url))
    assert set(executed) == set(RELEASED_STATEMENTS[engine])
    assert {revision: hashlib.sha256(repr(statements).encode()).hexdigest()[:16]
            for revision, statements in executed.items()} == RELEASED_STATEMENTS[engine]


@contextlib.contextmanager
def _fresh_store(old: Store, tmp_path: Path) -> Iterator[Store]:
    """A new store (``initialize_store``) on the engine of ``old`` (PostgreSQL: another schema of the same
    database)."""
    if old.is_postgres:
        with pg_schema() as url:
            fresh = Store(url)
            initialize_store(fresh, default_ledger=None)
            yield fresh
    else:
        fresh = Store(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
        initialize_store(fresh, default_ledger=None)
        yield fresh


def _post(store: Store, path: Path, external_id: str, amount: int, **columns: str) -> dict:
    """``ledger-pipeline post`` of one transaction, ``cash`` debited and ``revenue`` credited: its result."""
    pacsv.write_csv(pa.table({"external_id": [external_id] * 2, "account": ["cash", "revenue"],
                              "direction": ["debit", "credit"], "amount_minor": pa.array([amount] * 2, pa.int64()),
                              "currency": ["USD", "USD"], **{k: [v] * 2 for k, v in columns.items()}}), path)
    posted = runner.invoke(app, ["post", str(path), "--store", store.url, "--json"])
    assert posted.exit_code == 0, posted.output
    return json.loads(posted.stdout)["data"]


def _posted_debits(store: Store, old_account_id: str) -> int:
    with store.connect(read_only=True) as conn:
        return conn.scalar("SELECT posted_debits FROM ledger_account_balances "
                           "WHERE ledger_account_id = CAST(:id AS UUID)", {"id": new_id(old_account_id)})


@pytest.mark.parametrize("start", sorted(OLD_STORES))
def test_first_version_store_upgrades_in_place(store_url, tmp_path, start):
    old = Store(store_url)
    components = OLD_STORES[start]
    _create_old_store(old, components)
    before = _named_rows(old, LEDGER_TABLES + RECON_TABLES)

    first = _migrate(old, own_process=True)
    assert (first["from"], first["stamped"], first["to"]) == (start, True, HEAD)
    assert first["applied"][-1] == HEAD and first["applied"][0] == f"{int(start) + 1:04d}"
    # every row kept, with its values in the columns it had (recon_matches gained four; recon_match_items is
    # now a view of the same rows), its ledger ids mapped to UUIDs (0010)
    assert _in_columns(_named_rows(old, LEDGER_TABLES + RECON_TABLES), before) == _as_migrated(before)
    with old.connect() as conn:
        assert check_invariants(conn) == []
        assert dict(conn.all("SELECT component, version FROM schema_info")) == COMPONENT_VERSIONS

    # the catalog equals a new store's on the same engine
    migrated_catalog = _catalog(old)
    with _fresh_store(old, tmp_path) as fresh:
        assert migrated_catalog == _catalog(fresh)

    assert _post(old, tmp_path / "batch.csv", "tx_3", 700)["created"] == 1
    with old.connect() as conn:
        assert check_invariants(conn) == []
    assert _posted_debits(old, "la_cash") == 135700

    rows = _rows(old, LEDGER_TABLES + RECON_TABLES)
    second = _migrate(old)
    assert (second["from"], second["stamped"], second["applied"], second["to"]) == (HEAD, False, [], HEAD)
    assert _rows(old, LEDGER_TABLES + RECON_TABLES) == rows
    assert _catalog(old) == migrated_catalog


def _create_text_id_store(store: Store, start: str) -> None:
    """An old store at ``start`` whose ids are text: the first reconciliation release's (0003, recorded in
    ``schema_info``) or the release before UUID ids (0009, recorded by Alembic, with categories)."""
    if start == "0003":
        _create_old_store(store, OLD_STORES[start])
        with store.transaction() as conn:
            _write_text_ids(conn, start)
    else:
        _create_store_at(store, start)


@pytest.mark.parametrize("start", ["0003", "0009"])
def test_text_ids_become_uuids(store_url, tmp_path, start):
    """A store with text ids, some UUIDs in text form and some not, upgrades with ``migrate``: every row is
    kept, each id becomes its UUID (``new_id``) in every column that holds it, text columns included, the
    references still join, the ledger's invariants hold, and it takes new posts and resubmissions."""
    old = Store(store_url)
    _create_text_id_store(old, start)
    tables = LEDGER_TABLES + RECON_TABLES + MORE_TABLES
    before = _named_rows(old, tables)
    if start >= "0007":
        assert before["ledger_account_category_accounts"] and before["ledger_account_category_children"]

    migrated = _migrate(old)
    assert (migrated["from"], migrated["stamped"], migrated["applied"][-1]) == (start, start == "0003", "0010")
    after = _named_rows(old, tables)
    assert {t: len(rows) for t, rows in after.items() if t in before} == {t: len(rows) for t, rows in before.items()}
    assert _in_columns(after, before) == _as_migrated(before)

    with old.connect(read_only=True) as conn:
        # the exact ids: a text id's is the md5 under "ledger-pipeline:", a UUID's is itself (lower case)
        assert conn.scalar("SELECT CAST(id AS TEXT) FROM ledgers WHERE name = 'main'") == MAIN_LEDGER_ID \
            == str(uuid.UUID(hashlib.md5(b"ledger-pipeline:ldg_main").hexdigest()))
        assert conn.scalar("SELECT CAST(id AS TEXT) FROM ledger_accounts WHERE name = 'wallet'") == WALLET_ID
        assert conn.scalar("SELECT CAST(id AS TEXT) FROM ledger_transactions WHERE external_id = 'tx_uuid'") \
            == TX_UUID.lower()
        assert conn.scalar("SELECT count(*) FROM ledger_transactions WHERE id = ledger_id") == 0
        # references still join
        assert conn.scalar("SELECT count(*) FROM ledger_entries e JOIN ledger_transactions t "
                           "ON t.id = e.ledger_transaction_id JOIN ledger_accounts a ON a.id = e.ledger_account_id "
                           "JOIN ledgers l ON l.id = a.ledger_id AND l.id = t.ledger_id") \
            == len(before["ledger_entries"]) == 8
        assert conn.all("SELECT r.external_id, t.external_id FROM ledger_transactions r "
                        "JOIN ledger_transactions t ON t.id = r.reverses_id") == [("tx_1_reversal", "tx_1")]
        assert conn.scalar("SELECT count(*) FROM ledger_account_balances b "
                           "JOIN ledger_accounts a ON a.id = b.ledger_account_id") == 3
        assert sorted(conn.all("SELECT r.match_id, t.external_id FROM recon_match_items r "
                               "JOIN ledger_transactions t ON CAST(t.id AS TEXT) = r.item_id "
                               "JOIN ledger_accounts a ON CAST(a.id AS TEXT) = r.ledger_account_id "
                               "WHERE r.side = 'ledger'")) \
            == [("m_1", "tx_1"), ("m_2", "tx_uuid")]
        assert conn.all("SELECT p.id, t.external_id FROM payment_orders p "
                        "JOIN ledger_transactions t ON CAST(t.id AS TEXT) = p.ledger_transaction_id") \
            == [("po_1", "tx_1")]
        assert conn.all("SELECT u.side, t.external_id FROM recon_unmatched u "
                        "JOIN ledger_transactions t ON CAST(t.id AS TEXT) = u.item_id "
                        "JOIN ledger_accounts a ON CAST(a.id AS TEXT) = u.ledger_account_id") \
            == [("ledger", "tx_1_reversal")]
        ledger_objects = ("SELECT CAST(id AS TEXT) FROM ledgers UNION ALL SELECT CAST(id AS TEXT) FROM ledger_accounts "
                          "UNION ALL SELECT CAST(id AS TEXT) FROM ledger_transactions "
                          "UNION ALL SELECT CAST(id AS TEXT) FROM ledger_entries")
        assert sorted(conn.all(f"SELECT id FROM audit_log WHERE object_id IN ({ledger_objects})")) \
            == [(f"au_{i}",) for i in range(6)]
        assert sorted(conn.all(f"SELECT id FROM events WHERE object_id IN ({ledger_objects})")) == [("ev_0",), ("ev_1",)]
        assert sorted(conn.all("SELECT object_id FROM audit_log WHERE object_type NOT IN ('ledger', 'ledger_account', "
                               "'ledger_transaction', 'ledger_entry', 'ledger_account_category')"), key=repr) \
            == [("batch_1",), ("ia_1",), ("q_1",), (None,)]
        if start >= "0007":
            assert sorted(conn.all(
                "SELECT c.name, a.name FROM ledger_account_category_accounts m "
                "JOIN ledger_account_categories c ON c.id = m.category_id "
                "JOIN ledger_accounts a ON a.id = m.ledger_account_id AND a.ledger_id = c.ledger_id")) \
                == [("assets", "cash"), ("cash_like", "wallet")]
            assert conn.all("SELECT p.name, c.name FROM ledger_account_category_children h "
                            "JOIN ledger_account_categories p ON p.id = h.parent_category_id "
                            "JOIN ledger_account_categories c ON c.id = h.child_category_id") \
                == [("assets", "cash_like")]
            assert conn.scalar("SELECT object_id FROM audit_log WHERE object_type = 'ledger_account_category'") \
                == conn.scalar("SELECT CAST(id AS TEXT) FROM ledger_account_categories WHERE name = 'assets'") \
                == new_id("cat_assets")
        assert check_invariants(conn) == []

    migrated_catalog = _catalog(old)
    with _fresh_store(old, tmp_path) as fresh:
        assert migrated_catalog == _catalog(fresh)

    # a new post; the resubmission of a transaction the old store holds, and of the new one, are no-ops
    assert _post(old, tmp_path / "new.csv", "tx_3", 700)["created"] == 1
    resubmitted = _post(old, tmp_path / "old.csv", "tx_1", 135000, effective_at=NOW.isoformat())
    assert (resubmitted["created"], resubmitted["duplicates"], resubmitted["quarantined"]) == (0, 1, 0), resubmitted
    again = _post(old, tmp_path / "new.csv", "tx_3", 700)
    assert (again["created"], again["duplicates"], again["quarantined"]) == (0, 1, 0), again
    assert _posted_debits(old, "la_cash") == 135000 + 2500 + 700
    with old.connect() as conn:
        assert check_invariants(conn) == []
        assert conn.scalar("SELECT count(*) FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
                           "WHERE l.name = 'main'") == 5


def test_migrating_twice_is_a_no_op(store_url, tmp_path):
    """The second ``migrate`` of a store that had text ids applies nothing and changes no row."""
    old = Store(store_url)
    _create_text_id_store(old, "0009")
    tables = LEDGER_TABLES + RECON_TABLES + MORE_TABLES
    assert _migrate(old)["applied"] == ["0010"]
    rows, catalog = _rows(old, tables), _catalog(old)
    second = _migrate(old, own_process=True)
    assert (second["from"], second["stamped"], second["applied"], second["to"]) == (HEAD, False, [], HEAD)
    assert _rows(old, tables) == rows
    assert _catalog(old) == catalog
    with old.connect() as conn:
        assert check_invariants(conn) == []


def test_ids_that_would_become_one_uuid_refuse_the_upgrade(store_url):
    """Two transactions whose text ids are the same UUID in two cases would become one id: ``migrate`` exits
    with code 1 and one line naming the table and both ids, and the store is left as it was, still at 0009."""
    old = Store(store_url)
    _create_text_id_store(old, "0009")
    with old.transaction() as conn:
        row = conn.dicts("SELECT * FROM ledger_transactions WHERE id = :id", {"id": TX_UUID})[0]
        twin = row | {"id": TX_UUID.lower(), "external_id": "tx_uuid_lower"}
        conn.execute(f"INSERT INTO ledger_transactions ({', '.join(twin)}) VALUES "
                     f"({', '.join(':' + column for column in twin)})", twin)
    tables = LEDGER_TABLES + RECON_TABLES + MORE_TABLES
    rows, catalog = _rows(old, tables), _catalog(old)
    done = _cli("migrate", "--store", old.url)
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"ledger_transactions: ids '{TX_UUID}' and '{TX_UUID.lower()}' would become the same UUID" in done.stderr
    assert _rows(old, tables) == rows
    assert _catalog(old) == catalog
    # with the twin given another id, the same store upgrades
    with old.transaction() as conn:
        conn.execute("UPDATE ledger_transactions SET id = 'tx_twin' WHERE id = :id", {"id": TX_UUID.lower()})
    assert _migrate(old)["applied"] == ["0010"]


def test_migrate_refuses_a_store_that_was_never_initialised(tmp_path, pg_schema_url):
    missing = tmp_path / "missing.duckdb"
    done = _cli("migrate", "--store", f"duckdb:///{missing}")
    assert done.returncode == 3
    assert len(done.stderr.strip().splitlines()) == 1 and "init" in done.stderr
    assert not missing.exists()
    empty = runner.invoke(app, ["migrate", "--store", pg_schema_url])
    assert empty.exit_code == 3
    assert len(empty.stderr.strip().splitlines()) == 1 and "init" in empty.stderr


def test_initialize_store_creates_at_head_and_is_idempotent(store_url):
    store = Store(store_url)
    initialize_store(store)
    catalog = _catalog(store)
    initialize_store(store)
    assert _catalog(store) == catalog
    with store.connect() as conn:
        assert conn.scalar("SELECT version_num FROM alembic_version") == HEAD
    assert _migrate(store)["applied"] == []
