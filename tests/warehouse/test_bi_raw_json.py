"""``raw_json`` is optional and off by default: without it the destination tables have no such column and
the data is the same; ``raw_json: true`` keeps the exported row as JSON."""

from __future__ import annotations

import json

import pytest

from ledger_pipeline.warehouse import ConfigError, TargetConfig, create_destination
from ledger_pipeline.warehouse.tables import EXPORT_TABLES
from tests.warehouse.conftest import assert_equal_to_ledger, post, sync


def _columns(target: TargetConfig, table: str) -> list[str]:
    destination = create_destination(target)
    destination.open()
    try:
        cur = destination.conn.execute(f"SELECT * FROM {destination._name(table)} LIMIT 0")
        return [d[0] for d in cur.description]
    finally:
        destination.close()


def _with(target: TargetConfig, **options) -> TargetConfig:
    return TargetConfig(target.name, target.type, {**target.options, **options})


def test_raw_json_is_off_by_default(duckdb_ledger, warehouse):
    moved = sync(duckdb_ledger, warehouse)
    assert moved.rows["ledger_transactions"] == 300
    for table in EXPORT_TABLES:
        if table.name in moved.rows:
            columns = _columns(warehouse, table.name)
            assert "raw_json" not in columns, table.name
            assert columns == [c for c in table.column_names if c != "raw_json"], table.name
    assert_equal_to_ledger(duckdb_ledger, warehouse)
    post(duckdb_ledger, 10, seed=3, prefix="n")
    assert sync(duckdb_ledger, warehouse).rows["ledger_transactions"] == 10
    assert_equal_to_ledger(duckdb_ledger, warehouse)


def test_raw_json_true_keeps_the_exported_row(duckdb_ledger, warehouse):
    target = _with(warehouse, raw_json=True)
    sync(duckdb_ledger, target)
    assert "raw_json" in _columns(target, "ledger_entries")
    destination = create_destination(target)
    destination.open()
    try:
        rows = destination.fetch_rows("ledger_transactions")
    finally:
        destination.close()
    assert rows and all(json.loads(r["raw_json"])["id"] == r["id"] for r in rows)


@pytest.mark.parametrize(("value", "keeps"), [(True, True), (False, False), ("true", True), ("false", False),
                                              (None, False)])
def test_raw_json_option_values(value, keeps):
    options = {} if value is None else {"raw_json": value}
    assert TargetConfig("t", "duckdb", options).keeps_raw_json() is keeps


def test_raw_json_option_rejects_other_text():
    with pytest.raises(ConfigError, match="raw_json"):
        TargetConfig("t", "duckdb", {"raw_json": "sometimes"}).keeps_raw_json()
