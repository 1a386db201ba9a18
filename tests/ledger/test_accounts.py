"""Ledgers and accounts on both engines: idempotent creation, no silent redefinition, archiving, limits."""

from __future__ import annotations

import pytest

from ledger_pipeline.ledger.accounts import (
    AccountSpec,
    archive_account,
    ensure_account,
    ensure_ledger,
    set_balance_limits,
)
from ledger_pipeline.ledger.errors import LedgerError, NotFoundError
from tests.ledger.conftest import balances, post, reasons, tx


def test_ensure_is_idempotent_and_refuses_redefinition(store):
    spec = AccountSpec(name="gold", normal_balance="debit", currency="xau", currency_exponent=4)
    with store.transaction() as conn:
        ledger_id = ensure_ledger(conn, "main")
        assert ensure_ledger(conn, "main") == ledger_id
        first = ensure_account(conn, "main", spec)
        assert ensure_account(conn, "main", spec) == first
        with pytest.raises(LedgerError, match="refusing to redefine"):
            ensure_account(conn, "main", AccountSpec(name="gold", normal_balance="credit", currency="XAU",
                                                     currency_exponent=4))
        with pytest.raises(NotFoundError):
            ensure_account(conn, "nowhere", spec)
        with pytest.raises(LedgerError, match="normal_balance"):
            ensure_account(conn, "main", AccountSpec(name="x", normal_balance="both", currency="USD"))
        row = conn.dicts("SELECT currency, currency_exponent FROM ledger_accounts WHERE id = :id", {"id": first})[0]
        assert row == {"currency": "XAU", "currency_exponent": 4}
        assert conn.scalar("SELECT count(*) FROM ledger_account_balances WHERE ledger_account_id = :id",
                           {"id": first}) == 1


def test_custom_currency_exponent_governs_precision(store):
    with store.transaction() as conn:
        for name, normal in (("vault", "debit"), ("owner", "credit")):
            ensure_account(conn, "main", AccountSpec(name=name, normal_balance=normal, currency="XAU",
                                                     currency_exponent=4))
    result = post(store, [*tx("ok", ("vault", "debit", "1.2345"), ("owner", "credit", "1.2345")),
                          *tx("fine", ("vault", "debit", "1.23456"), ("owner", "credit", "1.23456"))])
    assert reasons(result) == {"fine": {"excess_precision"}}
    assert balances(store)["vault"]["posted_amount"] == 12345


def test_archived_account_keeps_its_balance_and_takes_nothing_new(store, chart):
    post(store, tx("before", ("payable", "credit", "5"), ("cash", "debit", "5")))
    with store.transaction() as conn:
        archive_account(conn, "main", "payable")
        with pytest.raises(NotFoundError):
            archive_account(conn, "main", "ghost")
    result = post(store, tx("after", ("payable", "credit", "5"), ("cash", "debit", "5")))
    assert reasons(result) == {"after": {"archived_account"}}
    row = balances(store)["payable"]
    assert row["archived"] and row["posted_amount"] == 500


def test_limits_can_be_set_later(store, chart):
    post(store, tx("fund", ("cash", "debit", "1"), ("payable", "credit", "1")))
    with store.transaction() as conn:
        set_balance_limits(conn, chart["payable"], min_available=0, max_available=150)
    result = post(store, [*tx("over", ("cash", "debit", "0.51"), ("payable", "credit", "0.51")),
                          *tx("under", ("payable", "debit", "1.01"), ("cash", "credit", "1.01")),
                          *tx("ok", ("payable", "debit", "1"), ("cash", "credit", "1"))])
    assert reasons(result) == {"over": {"balance_limit_exceeded"}, "under": {"balance_limit_exceeded"}}
    assert balances(store)["payable"]["available_amount"] == 0
