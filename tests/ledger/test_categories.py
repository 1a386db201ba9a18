"""Ledger account categories on both engines: the hierarchy rolls balances up (an account in two
categories, nested categories, a diamond counted once), cycles, other ledgers and other currencies are
refused, removals are kept as rows, and a category's balance as of a time is the sum of its accounts'
balances as of that time (``account_balances``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.categories import (
    CategorySpec,
    add_account,
    add_child,
    archive_category,
    assign_categories,
    category_balances,
    category_detail,
    ensure_category,
    remove_account,
    remove_child,
)
from ledger_pipeline.ledger.errors import LedgerError
from ledger_pipeline.ledger.queries import list_audit
from tests.ledger.conftest import post, tx

KINDS = ("posted", "pending", "available")


def _post_history(store) -> None:
    result = post(store, [
        *tx("t1", ("cash", "debit", "100.00"), ("revenue", "credit", "100.00"), effective_at="2025-01-10"),
        *tx("t2", ("cash", "debit", "50.00"), ("payable", "credit", "50.00"), effective_at="2025-02-10"),
        *tx("t3", ("cash", "debit", "7.00"), ("revenue", "credit", "7.00"), effective_at="2025-03-10",
            status="pending"),
        *tx("t4", ("eur_cash", "debit", "30.00"), ("eur_revenue", "credit", "30.00"), effective_at="2025-02-15"),
        *tx("t5", ("revenue", "debit", "4.00"), ("cash", "credit", "4.00"), effective_at="2025-03-01"),
    ])
    assert result.quarantined == 0, result.violations


def _by_currency(conn, category: str, as_of=None) -> dict[str, dict]:
    return {r["currency"]: r for r in category_balances(conn, ledger="main", category=category, as_of=as_of)}


def _sum_of_accounts(conn, names: set[str], normal: str, as_of=None) -> dict[str, int]:
    """The posted, pending and available amounts that the accounts' own balances add up to, signed by
    ``normal`` (what a category of that normal balance must report)."""
    rows = [r for r in account_balances(conn, ledger="main", as_of=as_of) if r["account"] in names]
    assert {r["account"] for r in rows} == names
    out = {}
    for kind in KINDS:
        debits = sum(r[f"{kind}_debits"] for r in rows)
        credits = sum(r[f"{kind}_credits"] for r in rows)
        out[kind] = credits - debits if normal == "credit" else debits - credits
    return out


def _amounts(row: dict) -> dict[str, int]:
    return {kind: row[f"{kind}_amount"] for kind in KINDS}


def test_hierarchy_rolls_up_each_account_once(store, chart):
    _post_history(store)
    with store.transaction() as conn:
        for name in ("x", "y", "top", "root"):
            ensure_category(conn, "main", CategorySpec(name=name, normal_balance="credit"))
        add_account(conn, "main", "x", "revenue")
        add_account(conn, "main", "x", "payable")
        add_account(conn, "main", "y", "revenue")  # revenue sits in two categories
        add_child(conn, "main", "top", "x")
        add_child(conn, "main", "top", "y")
        add_child(conn, "main", "root", "top")
        add_child(conn, "main", "root", "x")  # root reaches revenue by three paths
        assert add_account(conn, "main", "x", "revenue") is False  # already there: no-op
        assert add_child(conn, "main", "root", "x") is False

    with store.connect() as conn:
        for name in ("top", "root"):
            [row] = category_balances(conn, ledger="main", category=name)
            assert row["accounts"] == 2
            assert _amounts(row) == _sum_of_accounts(conn, {"revenue", "payable"}, "credit")
            assert row["posted_amount"] == 100_00 - 4_00 + 50_00  # each account once
        [y] = category_balances(conn, ledger="main", category="y")
        assert _amounts(y) == {"posted": 96_00, "pending": 103_00, "available": 96_00}
        detail = category_detail(conn, ledger="main", category="root")
        assert detail["children"] == ["top", "x"] and detail["accounts"] == []
        assert detail["reachable_accounts"] == ["payable", "revenue"]
        assert category_detail(conn, ledger="main", category="x")["parents"] == ["root", "top"]


AS_OF = (datetime(2025, 1, 31, tzinfo=UTC), datetime(2025, 2, 12, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC),
         None)


def test_balance_as_of_equals_sum_of_account_balances(store, chart):
    _post_history(store)
    with store.transaction() as conn:
        ensure_category(conn, "main", CategorySpec(name="funds", normal_balance="debit"))
        ensure_category(conn, "main", CategorySpec(name="usd_funds", normal_balance="debit", currency="USD"))
        add_account(conn, "main", "usd_funds", "cash")
        add_account(conn, "main", "usd_funds", "revenue")  # a credit-normal account in a debit-normal category
        add_child(conn, "main", "funds", "usd_funds")
        add_account(conn, "main", "funds", "eur_cash")
    with store.connect() as conn:
        for as_of in AS_OF:
            rows = _by_currency(conn, "funds", as_of)
            assert set(rows) == {"USD", "EUR"}  # a category without a currency: one row per currency
            assert _amounts(rows["USD"]) == _sum_of_accounts(conn, {"cash", "revenue"}, "debit", as_of), as_of
            assert _amounts(rows["EUR"]) == _sum_of_accounts(conn, {"eur_cash"}, "debit", as_of), as_of
            assert (rows["USD"]["currency_exponent"], rows["USD"]["accounts"]) == (2, 2)
        usd = _by_currency(conn, "usd_funds", AS_OF[1])["USD"]
        assert _amounts(usd) == {"posted": 50_00, "pending": 50_00, "available": 50_00}  # cash 150 - revenue 100
        eur = _by_currency(conn, "funds", AS_OF[0])["EUR"]
        assert _amounts(eur) == {"posted": 0, "pending": 0, "available": 0}  # t4 is effective later


def test_cycles_other_ledgers_and_other_currencies_are_refused(store, chart):
    with store.transaction() as conn:
        ensure_ledger(conn, "other")
        other_cash = ensure_account(conn, "other", AccountSpec(name="cash", normal_balance="debit", currency="USD"))
        other_category = ensure_category(conn, "other", CategorySpec(name="a", normal_balance="debit"))
        for name in ("a", "b", "c"):
            ensure_category(conn, "main", CategorySpec(name=name, normal_balance="debit"))
        ensure_category(conn, "main", CategorySpec(name="usd", normal_balance="debit", currency="USD"))
        add_child(conn, "main", "a", "b")
        add_child(conn, "main", "b", "c")
        add_account(conn, "main", "c", "eur_cash")

    def refused(fn, *args, match: str) -> None:
        with pytest.raises(LedgerError, match=match), store.transaction() as conn:
            fn(conn, "main", *args)

    refused(add_child, "c", "a", match="cycle")
    refused(add_child, "a", "a", match="same category.*cycle")
    refused(add_account, "a", other_cash, match="in ledger other, not main")
    refused(add_child, "a", other_category, match="in ledger other, not main")
    refused(add_account, "usd", "eur_cash", match="category usd is USD, an account is EUR")
    refused(add_child, "usd", "a", match="category usd is USD, a holds EUR")  # EUR two levels below a
    with store.transaction() as conn:
        add_account(conn, "main", "usd", "cash")
        add_child(conn, "main", "a", "usd")  # a has no currency: USD and EUR below it are fine
    refused(add_child, "usd", "c", match="category usd is USD, c holds EUR")
    with pytest.raises(LedgerError, match="refusing to redefine"), store.transaction() as conn:
        ensure_category(conn, "main", CategorySpec(name="usd", normal_balance="credit", currency="USD"))
    with store.transaction() as conn:
        archive_category(conn, "main", "b")
    refused(add_account, "b", "cash", match="archived")
    with store.connect() as conn:  # nothing refused was written
        assert conn.scalar("SELECT count(*) FROM ledger_account_category_children WHERE removed_at IS NULL") == 3
        assert conn.scalar("SELECT count(*) FROM ledger_account_category_accounts") == 2


def test_removals_are_rows_with_a_new_change_seq_and_audited(store, chart):
    _post_history(store)
    with store.transaction() as conn:
        ensure_category(conn, "main", CategorySpec(name="top", normal_balance="credit"))
        ensure_category(conn, "main", CategorySpec(name="income", normal_balance="credit"))
        add_child(conn, "main", "top", "income")
        add_account(conn, "main", "income", "revenue")
        add_account(conn, "main", "top", "payable")
    with store.connect() as conn:
        seq_before = conn.scalar("SELECT m.change_seq FROM ledger_account_category_accounts m JOIN ledger_accounts a "
                                 "ON a.id = m.ledger_account_id WHERE a.name = 'revenue'")
    with store.transaction() as conn:
        assert remove_account(conn, "main", "income", "revenue") is True
        assert remove_account(conn, "main", "income", "revenue") is False
        assert remove_child(conn, "main", "top", "income") is True
    with store.connect() as conn:
        removed = conn.dicts("SELECT m.removed_at, m.change_seq FROM ledger_account_category_accounts m JOIN "
                             "ledger_accounts a ON a.id = m.ledger_account_id WHERE a.name = 'revenue'")
        assert removed[0]["removed_at"] is not None and removed[0]["change_seq"] > seq_before
        [top] = category_balances(conn, ledger="main", category="top")
        assert (top["accounts"], top["posted_amount"]) == (1, 50_00)
    with store.transaction() as conn:
        add_child(conn, "main", "top", "income")  # revived, not a second row
        add_account(conn, "main", "income", "revenue")
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_account_category_accounts") == 2
        [top] = category_balances(conn, ledger="main", category="top")
        assert top["posted_amount"] == 146_00
        actions = [r["action"] for r in list_audit(conn, object_type="ledger_account_category", limit=100)]
    assert sorted(actions) == sorted(["create", "create", "add_child", "add_account", "add_account",
                                      "remove_account", "remove_child", "add_child", "add_account"])


def test_assign_categories_creates_the_chart_once_and_keeps_removals(store, chart):
    pairs = [("processor_balances", "cash"), ("revenue", "revenue"), ("customer_balances", "wallet")]
    with store.transaction() as conn:
        assert assign_categories(conn, "main", pairs) == 3
        assert assign_categories(conn, "main", pairs) == 0
        remove_account(conn, "main", "revenue", "revenue")
        assert assign_categories(conn, "main", pairs) == 0  # an operator's removal stands
    with store.connect() as conn:
        detail = category_detail(conn, ledger="main", category="assets")
        assert detail["children"] == ["cash"] and detail["reachable_accounts"] == ["cash"]
        assert category_detail(conn, ledger="main", category="liabilities")["reachable_accounts"] == ["wallet"]
        with pytest.raises(Exception, match="not in the chart of categories"):
            assign_categories(conn, "main", [("nonsense", "cash")])
    with store.transaction() as conn:  # a category an operator made, with a currency
        ensure_category(conn, "main", CategorySpec(name="usd_only", normal_balance="debit", currency="USD"))
        add_child(conn, "main", "usd_only", "cash")
    with pytest.raises(LedgerError, match="category usd_only is USD, the account is EUR"), \
            store.transaction() as conn:
        assign_categories(conn, "main", [("processor_balances", "eur_cash"), ("processor_balances", "jpy_cash")])
    with store.transaction() as conn:
        assert assign_categories(conn, "main", [("usd_only", "payable"), ("fees", "cash")]) == 2
        actions = [(r["action"], r["detail"]) for r in list_audit(conn, action="add_accounts", limit=10)]
    assert ("add_accounts", {"accounts": ["payable"]}) in actions


def test_concurrent_nestings_cannot_close_a_cycle_on_postgres(pg_schema_url):
    """Two writers nest a under b and b under a at the same moment: the ledger's lock lets one through and
    the other, seeing its edge, refuses the cycle (without it, each would check a hierarchy lacking the
    other's edge)."""
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    store = Store(pg_schema_url)
    initialize_store(store)
    with store.transaction() as conn:
        for name in ("a", "b"):
            ensure_category(conn, "main", CategorySpec(name=name, normal_balance="debit"))
    barrier = threading.Barrier(2)

    def nest(parent: str, child: str) -> str:
        try:
            with store.transaction() as conn:
                conn.scalar("SELECT count(*) FROM ledger_account_category_children")  # both see no edge
                barrier.wait(timeout=30)
                add_child(conn, "main", parent, child)
            return "nested"
        except LedgerError as exc:
            assert "cycle" in str(exc)
            return "refused"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(nest, ("a", "b"), ("b", "a")))
    assert outcomes == ["nested", "refused"]
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_account_category_children") == 1
