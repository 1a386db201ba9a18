"""Versioned migrations: a store made with the first released schema upgrades in place with
``ledger-pipeline migrate``, keeps its rows, passes the ledger's invariants and takes new posts; its
catalog then equals a new store's (which ``initialize_store`` creates from the metadata). Both engines.

The old stores are written with the first release's own DDL (the frozen text of revisions 0001-0003, which
is that release's DDL as it ran) and plain SQL, as that release stored them: ``schema_info`` versions, no
Alembic revision.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
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
               "0007": "830e66e93ea3fd84", "0008": "a97c5c369cc256f2", "0009": "4f53cda18c2baa0c"},
    "postgres": {"0001": "d9742d92bbbbef47", "0002": "eb321f324266a8ce", "0003": "df2165575defbfa5",
                 "0004": "c60fc01b3e57e7aa", "0005": "ec5aaa6317c7acc6", "0006": "147e9e8bd362fca9",
                 "0007": "4d3f5a3797f7f425", "0008": "07e4cc6145eff444", "0009": "cdf9020c12da3554"},
}


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


@pytest.mark.parametrize("start", sorted(OLD_STORES))
def test_first_version_store_upgrades_in_place(store_url, pg_schema_url, tmp_path, start):
    old = Store(store_url)
    components = OLD_STORES[start]
    _create_old_store(old, components)
    before = _rows(old, LEDGER_TABLES + RECON_TABLES)

    first = _migrate(old, own_process=True)
    assert (first["from"], first["stamped"], first["to"]) == (start, True, HEAD)
    assert first["applied"][-1] == HEAD and first["applied"][0] == f"{int(start) + 1:04d}"
    after = _rows(old, LEDGER_TABLES + RECON_TABLES)
    # every row kept, with its values in the columns it had (recon_matches gained four; recon_match_items is
    # now a view of the same rows)
    assert {t: [row[:len(before[t][0])] for row in after[t]] for t in before if before[t]} == \
        {t: rows for t, rows in before.items() if rows}
    with old.connect() as conn:
        assert check_invariants(conn) == []
        assert dict(conn.all("SELECT component, version FROM schema_info")) == COMPONENT_VERSIONS

    # the catalog equals a new store's on the same engine (PostgreSQL: another schema of the same database)
    fresh = Store(pg_schema_url if old.is_postgres else f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    initialize_store(fresh, default_ledger=None)
    migrated_catalog = _catalog(old)
    assert migrated_catalog == _catalog(fresh)

    batch = tmp_path / "batch.csv"
    pacsv.write_csv(pa.table({"external_id": ["tx_3", "tx_3"], "account": ["cash", "revenue"],
                              "direction": ["debit", "credit"], "amount_minor": pa.array([700, 700], pa.int64()),
                              "currency": ["USD", "USD"]}), batch)
    posted = runner.invoke(app, ["post", str(batch), "--store", old.url, "--json"])
    assert posted.exit_code == 0, posted.output
    assert json.loads(posted.stdout)["data"]["created"] == 1, posted.stdout
    with old.connect() as conn:
        assert check_invariants(conn) == []
        assert conn.scalar("SELECT posted_debits FROM ledger_account_balances WHERE ledger_account_id = 'la_cash'") \
            == 135700

    rows = _rows(old, LEDGER_TABLES + RECON_TABLES)
    second = _migrate(old)
    assert (second["from"], second["stamped"], second["applied"], second["to"]) == (HEAD, False, [], HEAD)
    assert _rows(old, LEDGER_TABLES + RECON_TABLES) == rows
    assert _catalog(old) == migrated_catalog


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
