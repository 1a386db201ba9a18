"""The marts built on every published object (bank accounts, statements, reconciliation results,
categories), and the descriptions dbt persists as comments, on DuckDB and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ledger_pipeline import paths
from tests.reporting import lookml
from tests.reporting.conftest import filled_warehouse
from tests.warehouse.objects import populate_objects

pytestmark = pytest.mark.slow


@pytest.fixture
def objects_warehouse(store, tmp_path):
    yield from filled_warehouse(store, tmp_path, populate_objects)


def _comments(warehouse) -> dict[str, dict[str | None, str | None]]:
    """{relation: {column: comment, None: relation comment}} of the marts schema."""
    found: dict[str, dict[str | None, str | None]] = {}
    if warehouse.kind == "duckdb":
        for table, column, comment in warehouse.query(
                "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = '{reporting}'"):
            found.setdefault(table, {})[column] = comment
        for table, comment in warehouse.query(
                "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = '{reporting}' UNION ALL "
                "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = '{reporting}'"):
            found.setdefault(table, {})[None] = comment
        return found
    for table, column, comment, table_comment in warehouse.query(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON "
            "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped WHERE n.nspname = '{reporting}' "
            "AND c.relkind IN ('r', 'v')"):
        found.setdefault(table, {None: table_comment})[column] = comment
    return found


def test_object_marts_and_comments(objects_warehouse):
    warehouse = objects_warehouse
    result = warehouse.dbt("build")
    assert "ERROR=0 SKIP=0" in result.output

    # Breaks: exactly the store's open unmatched items, with their age.
    with warehouse.store.connect() as conn:
        open_items = {(s, i): int(a) for s, i, a in conn.all(
            "SELECT side, item_id, age_days FROM recon_unmatched WHERE status = 'open'")}
    breaks = {(s, i): int(a) for s, i, a in warehouse.query(
        "SELECT side, item_id, age_days FROM {reporting}.rpt_reconciliation_breaks")}
    assert breaks == open_items and len(breaks) >= 2

    # Cash position: the bank's closing balance of 72.00 beside the ledger's 82.00 on 3 March (100 - 25 + 7).
    position = warehouse.query(
        "SELECT internal_account_name, account_name, bank_closing_balance_minor, "
        "ledger_balance_on_statement_date_minor, variance_minor FROM {reporting}.rpt_cash_position")
    assert [(n, a, int(b), int(lb), int(v)) for n, a, b, lb, v in position] == [
        ("operating", "cash_operating", 72_00, 82_00, -10_00)]

    # Categories: cash and the nested balance_sheet category roll up the cash account.
    rolled = dict(warehouse.query(
        "SELECT category_name, posted_balance_minor FROM {reporting}.fct_daily_category_balances "
        "WHERE balance_date = DATE '2025-03-03' AND category_name IN ('cash', 'balance_sheet')"))
    assert {k: int(v) for k, v in rolled.items()} == {"cash": 82_00, "balance_sheet": 82_00}

    # Every mart and every column documented in its YAML carries its description as a comment.
    manifest = json.loads((paths.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    marts = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["path"].startswith("marts")}
    comments = _comments(warehouse)
    assert set(marts) <= set(comments), sorted(set(marts) - set(comments))
    # The LookML views read columns that the built marts have.
    for view in lookml.views().values():
        missing = view.columns - set(comments[view.name])
        assert not missing, (view.name, sorted(missing))

    def words(text):
        return " ".join((text or "").split())

    for name, node in marts.items():
        assert node["description"] and words(comments[name][None]) == words(node["description"]), name
        for column, spec in node["columns"].items():
            if spec.get("description"):
                assert words(comments[name].get(column)) == words(spec["description"]), (name, column)
