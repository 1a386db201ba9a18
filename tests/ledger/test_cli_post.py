"""``ledger-pipeline post FILE``: a Parquet or CSV batch posts, the summary is JSON with ``--json``, a refused
transaction exits 1 and is named, an unreadable file exits 2, and posting the same file again changes nothing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ledger_pipeline.cli import app
from tests.ledger.conftest import amounts, counts

runner = CliRunner()


def _post(store, path):
    return runner.invoke(app, ["post", str(path), "--store", store.url, "--json"])


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_post_a_file_twice(store, chart, tmp_path, suffix):
    table = pa.table({
        "external_id": ["a", "a", "b", "b"], "account": ["cash", "revenue", "cash", "nowhere"],
        "direction": ["debit", "credit", "debit", "credit"],
        "amount_minor": pa.array([1250, 1250, 5, 5], pa.int64()),
    })
    path = tmp_path / f"batch.{suffix}"
    if suffix == "parquet":
        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    first = _post(store, path)
    assert first.exit_code == 1, first.output  # one transaction refused
    summary = json.loads(first.stdout)["data"]
    assert (summary["created"], summary["quarantined"]) == (1, 1)
    line = 4 if suffix == "parquet" else 5  # a CSV's header is line 1
    assert summary["violations"][0]["reason_code"] == "unknown_account"
    assert summary["violations"][0]["detail"].startswith(f"batch.{suffix}:{line}")
    assert amounts(store) == {"cash": 1250, "revenue": 1250}
    again = _post(store, path)
    assert json.loads(again.stdout)["data"]["duplicates"] == 1
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": 1}


def test_post_an_unreadable_parquet_file(store, chart, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 but nothing else")
    result = _post(store, path)
    assert result.exit_code == 2
    assert "broken.parquet: not a readable Parquet file" in result.output
    assert counts(store) == {"ledger_transactions": 0, "ledger_entries": 0, "quarantine": 0}
