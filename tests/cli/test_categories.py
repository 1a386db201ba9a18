"""``ledger-pipeline categories`` run as an operator does (subprocess), on DuckDB and PostgreSQL: a
hierarchy built from the command line, its balance as of a time equal to the sum of its accounts' balances as of that time,
a cycle refused with exit 1 and one line, an unknown category with exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.posting import post_batch_file
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.cli.conftest import run_cli

BATCH = (
    "external_id,account,direction,amount_minor,effective_at\n"
    "a,cash,debit,1250,2025-06-01\n"
    "a,revenue,credit,1250,2025-06-01\n"
    "b,cash,debit,500,2025-07-01\n"
    "b,fees,credit,500,2025-07-01\n"
)


def _ledger(url: str, tmp_path) -> Store:
    """A store with three accounts and two transactions, set up in process (the commands under test are
    the ``categories`` ones)."""
    store = Store(url)
    initialize_store(store)
    with store.transaction() as conn:
        for name, normal in (("cash", "debit"), ("revenue", "credit"), ("fees", "credit")):
            ensure_account(conn, "main", AccountSpec(name=name, normal_balance=normal, currency="USD"))
    (tmp_path / "e.csv").write_text(BATCH)
    assert post_batch_file(store, tmp_path / "e.csv").quarantined == 0
    return store


def _scenario(url: str, tmp_path) -> None:
    def cli(*args: str, code: int = 0):
        run = run_cli(*args, "--store", url, cwd=tmp_path)
        assert run.code == code, (args, run.out, run.err)
        return run

    def data(*args: str):
        return json.loads(cli(*args, "--json").out)["data"]

    store = _ledger(url, tmp_path)
    cli("categories", "create", "income", "--normal-balance", "credit")
    cli("categories", "create", "fees_earned", "--normal-balance", "credit", "--currency", "USD",
        "--parent", "income", "--description", "Fees we charge")
    assert data("categories", "add-account", "income", "revenue")["changed"] is True
    cli("categories", "add-account", "fees_earned", "fees")
    cli("categories", "add-account", "income", "fees")  # reachable twice: counted once

    [june] = data("categories", "balance", "income", "--as-of", "2025-06-30")
    [now] = data("categories", "balance", "income")
    assert (int(june["posted_amount_minor"]), int(now["posted_amount_minor"]), now["accounts"]) == (1250, 1750, 2)
    with store.connect() as conn:
        accounts = {r["account"]: r for r in account_balances(conn, as_of=datetime(2025, 6, 30, tzinfo=UTC))}
    assert int(june["posted_amount_minor"]) == accounts["revenue"]["posted_amount"] + accounts["fees"]["posted_amount"]

    refused = cli("categories", "add-child", "fees_earned", "income", code=1)
    assert "cycle" in refused.one_error_line()
    missing = cli("categories", "show", "nowhere", code=2)
    assert "category 'nowhere' not found" in missing.one_error_line()

    cli("categories", "remove-account", "income", "fees")
    cli("categories", "update", "income", "--description", "P&L income", "--metadata", "report=pl")
    shown = data("categories", "show", "income")
    assert (shown["children"], shown["accounts"], shown["reachable_accounts"]) == (
        ["fees_earned"], ["revenue"], ["fees", "revenue"])
    assert (shown["description"], shown["metadata"]) == ("P&L income", {"report": "pl"})
    listed = {r["name"]: r for r in data("categories", "list")}
    assert listed["fees_earned"]["parents"] == ["income"] and listed["fees_earned"]["currency"] == "USD"


def test_categories_commands(store_url, tmp_path):
    _scenario(store_url, tmp_path)
