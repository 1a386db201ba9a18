"""``ledger-pipeline check``: rule 8's invariants over a whole store, on both engines; exit 0 when they hold,
exit 1 with one line per violation when a store was corrupted by hand, exit 3 when there is no store."""

from __future__ import annotations

import json

import pytest

from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.cli.conftest import run_cli
from tests.ledger.conftest import create_chart, post, tx


@pytest.fixture
def posted_url(store_url) -> str:
    """A store holding two posted transactions."""
    store = Store(store_url)
    initialize_store(store)
    create_chart(store)
    result = post(store, [*tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")),
                          *tx("b", ("cash", "debit", "2"), ("revenue", "credit", "2"))])
    assert result.created == 2
    return store_url


def _corrupt(url: str, *statements: str) -> None:
    """Raw SQL on the store (PostgreSQL's unique indexes dropped first, as a bad restore would)."""
    with Store(url).transaction() as conn:
        for index in ("ledger_transactions_pk", "ledger_entries_pk", "ledger_transactions_external_id"):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        for statement in statements:
            conn.execute(statement)


def test_a_clean_store_passes_with_one_line(posted_url, tmp_path):
    run = run_cli("check", "--store", posted_url, cwd=tmp_path)
    assert run.code == 0, run.err
    assert len(run.out.strip().splitlines()) == 1
    assert "all ledger invariants hold" in run.out
    assert run.err == ""


def test_a_clean_store_as_json(posted_url, tmp_path):
    run = run_cli("check", "--store", posted_url, "--json", cwd=tmp_path)
    assert run.code == 0, run.err
    data = json.loads(run.out)["data"]
    assert data["ok"] is True and data["violations"] == []


@pytest.mark.breaks_invariants
def test_an_orphan_entry_exits_1_naming_the_code(posted_url, tmp_path):
    _corrupt(posted_url, "DELETE FROM ledger_transactions WHERE external_id = 'b'")
    run = run_cli("check", "--store", posted_url, cwd=tmp_path)
    assert run.code == 1, (run.out, run.err)
    lines = run.out.strip().splitlines()
    assert len(lines) == 2  # one per entry of the lost transaction
    assert all(line.startswith("orphan_entry: entry ") for line in lines), lines
    assert "Traceback" not in run.err


@pytest.mark.breaks_invariants
def test_violations_as_json(posted_url, tmp_path):
    _corrupt(posted_url, "UPDATE ledger_transactions SET external_id = 'a'")
    run = run_cli("check", "--store", posted_url, "--json", cwd=tmp_path)
    assert run.code == 1, (run.out, run.err)
    data = json.loads(run.out)["data"]
    assert data["ok"] is False
    assert [v["reason_code"] for v in data["violations"]] == ["duplicate_external_id"]


def test_a_store_never_initialised_exits_3(duck_url, tmp_path):
    run = run_cli("check", "--store", duck_url, cwd=tmp_path)
    assert run.code == 3
    assert "ledger-pipeline init" in run.one_error_line()
