"""Every synced table and column carries the registry's description as its comment, read back from the
destination's catalog (DuckDB ``duckdb_columns().comment``, PostgreSQL ``pg_description``)."""

from __future__ import annotations

import psycopg
import pytest

from ledger_pipeline.warehouse import TargetConfig, create_destination
from ledger_pipeline.warehouse.tables import (
    EXPORT_TABLES,
    MINOR_UNITS,
    STATE_COLUMNS,
    STATE_TABLE,
    TABLES_BY_NAME,
    descriptions,
)
from tests.conftest import PG_URL
from tests.warehouse.conftest import sync


def test_every_registry_table_and_column_has_a_description():
    for table in EXPORT_TABLES:
        table_text, columns = descriptions(table.name, table.all_columns)
        assert table_text and set(columns) == set(table.column_names)
        for name, kind in table.all_columns:
            assert columns[name].strip(), (table.name, name)
            assert (MINOR_UNITS in columns[name]) == (kind == "amount"), (table.name, name)
    assert set(descriptions(STATE_TABLE, STATE_COLUMNS)[1]) == {name for name, _ in STATE_COLUMNS}


def _catalog(target: TargetConfig) -> dict[str, dict[str | None, str | None]]:
    """{table: {column: comment, None: table comment}} of the target's schema."""
    found: dict[str, dict[str | None, str | None]] = {}
    if target.type == "duckdb":
        import duckdb

        with duckdb.connect(target.options["path"], read_only=True) as conn:
            for table, column, comment in conn.execute(
                    "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal").fetchall():
                found.setdefault(table, {})[column] = comment
            for table, comment in conn.execute(
                    "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal").fetchall():
                found.setdefault(table, {})[None] = comment
        return found
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = %s AND c.relkind = 'r'", (target.options["schema"],)).fetchall()
    for table, column, comment, table_comment in rows:
        found.setdefault(table, {None: table_comment})[column] = comment
    return found


def test_every_synced_table_and_column_has_its_comment(duckdb_ledger, warehouse):
    moved = sync(duckdb_ledger, warehouse)
    catalog = _catalog(warehouse)
    assert set(moved.rows) | {STATE_TABLE} <= set(catalog)
    for name, comments in catalog.items():
        columns = STATE_COLUMNS if name == STATE_TABLE else TABLES_BY_NAME[name].without_raw_json().all_columns
        table_text, texts = descriptions(name, columns)
        assert comments[None] == table_text, name
        assert {c: t for c, t in comments.items() if c is not None} == texts, name
    assert "minor units" in catalog["ledger_entries"]["amount"].lower()
    assert "minor units" in catalog["ledger_account_balances"]["posted_amount"].lower()


def test_comments_are_restored_and_kept(duckdb_ledger, warehouse):
    """A comment changed by hand is put back by the next sync; a column added by the sync gets one."""
    sync(duckdb_ledger, warehouse)
    if warehouse.type == "duckdb":
        import duckdb

        with duckdb.connect(warehouse.options["path"]) as conn:
            conn.execute("COMMENT ON COLUMN main.ledgers.name IS 'changed'")
            conn.execute("ALTER TABLE main.ledgers DROP COLUMN description")
    else:
        schema = warehouse.options["schema"]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'COMMENT ON COLUMN "{schema}".ledgers.name IS \'changed\'')
            conn.execute(f'ALTER TABLE "{schema}".ledgers DROP COLUMN description')
    sync(duckdb_ledger, warehouse)
    comments = _catalog(warehouse)["ledgers"]
    texts = descriptions("ledgers", TABLES_BY_NAME["ledgers"].all_columns)[1]
    assert comments["name"] == texts["name"]
    assert comments["description"] == texts["description"]


@pytest.mark.parametrize("text", ["it's", "a ''quoted'' word"])
def test_comment_text_is_a_sql_string(text):
    import duckdb

    from ledger_pipeline.warehouse.tables import sql_string

    assert duckdb.connect().execute(f"SELECT {sql_string(text)}").fetchone() == (text,)


class _FakeBigQuery:
    """Just enough of google.cloud.bigquery.Client for ``ensure_table``: tables kept in memory."""

    def __init__(self):
        self.tables, self.updates = {}, []

    def create_table(self, table, exists_ok=False):
        return self.tables.setdefault(table.reference.table_id, table)

    def update_table(self, table, fields):
        self.updates.append(fields)
        self.tables[table.reference.table_id] = table
        return table


def test_bigquery_tables_and_fields_get_descriptions():
    pytest.importorskip("google.cloud.bigquery")
    from google.cloud import bigquery

    destination = create_destination(TargetConfig("bq", "bigquery", {"project": "p", "dataset": "d"}))
    destination.client = _FakeBigQuery()
    table = TABLES_BY_NAME["ledger_entries"].without_raw_json()
    destination.ensure_table(table)
    created = destination.client.tables["ledger_entries"]
    table_text, texts = descriptions("ledger_entries", table.all_columns)
    assert created.description == table_text
    assert {f.name: f.description for f in created.schema} == texts
    assert destination.client.updates == []
    # a table of an older sync: no descriptions, one column missing -> one update puts both right
    old = bigquery.Table("p.d.ledgers", schema=[bigquery.SchemaField(n, "STRING") for n, _ in
                                                TABLES_BY_NAME["ledgers"].columns[:-1]])
    destination.client.tables["ledgers"] = old
    destination.ensure_table(TABLES_BY_NAME["ledgers"].without_raw_json())
    updated = destination.client.tables["ledgers"]
    ledgers = TABLES_BY_NAME["ledgers"].without_raw_json()
    assert {f.name: f.description for f in updated.schema} == descriptions("ledgers", ledgers.all_columns)[1]
    assert destination.client.updates == [["schema", "description"]]
    destination.ensure_table(ledgers)
    assert len(destination.client.updates) == 1  # nothing left to change
