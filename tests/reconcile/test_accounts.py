"""Internal accounts and their links to ledger accounts, which are named by name or by id (both engines)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.errors import NotFoundError
from ledger_pipeline.reconcile import run_reconciliation
from ledger_pipeline.reconcile.accounts import INTERNAL, ensure_internal_account, link_ledger_account


def test_a_ledger_account_is_linked_by_its_name_or_its_id(store):
    with store.transaction() as conn:
        operating = ensure_account(conn, "main", AccountSpec("cash_operating", "debit", "USD"))
        reserve = ensure_account(conn, "main", AccountSpec("cash_reserve", "debit", "USD"))
        ensure_internal_account(conn, "operating", "021000021-1", "USD")
        reserve_bank = ensure_internal_account(conn, "reserve", "021000021-2", "USD")

        assert link_ledger_account(conn, "cash_operating", INTERNAL, "operating") == operating
        assert link_ledger_account(conn, reserve, INTERNAL, "reserve") == reserve
        # the same link again, by the other reference: a no-op
        assert link_ledger_account(conn, operating, INTERNAL, "operating") == operating
        assert link_ledger_account(conn, "cash_reserve", INTERNAL, reserve_bank) == reserve
        for unknown in ("cash_nowhere", str(uuid.uuid4())):
            with pytest.raises(NotFoundError, match="not found in ledger 'main'"):
                link_ledger_account(conn, unknown, INTERNAL, "operating")

    # A run of one account names it by its internal account's name or id, or by its ledger account's name.
    for account in ("operating", reserve_bank, "cash_reserve"):
        assert run_reconciliation(store, account=account, as_of=date(2025, 3, 1)).accounts == 1
