"""The ``reconcile`` command and manual matches (both engines)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from ledger_pipeline.cli import app
from ledger_pipeline.ledger.errors import InputError, LedgerError
from ledger_pipeline.reconcile import run_reconciliation
from tests.reconcile import scenario
from tests.reconcile.scenario import BASE

runner = CliRunner()
AS_OF = "2025-03-20"


def _invoke(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _lines(store):
    with store.connect() as conn:
        return dict(conn.all("SELECT text, id FROM bank_statement_lines"))


def test_reconcile_command_reports_variances_and_exceptions(store):
    scenario.setup_bank_account(store)
    scenario.post_cash(store, [("erp:a", 1000, BASE, None), ("erp:b", 2000, BASE, None)])
    scenario.load_lines(store, BASE, [(BASE, 1000, "A"), (BASE, 1990, "B")], closing=2990, opening=0)

    code, out = _invoke("reconcile", "--store", store.url, "--as-of", AS_OF, "--json")
    assert code == 1  # a variance of -10 is above the default tolerance 0
    data = json.loads(out)["data"]
    assert data["matching"]["matches_by_rule"] == {"amount_date": 1}
    assert [(v["statement_date"], v["ledger_balance"], v["bank_balance"], v["variance"], v["variance_minor"])
            for v in data["variances"]] == [("2025-03-01", "30.00", "29.90", "-0.10", "-10")]
    assert len(data["breaches"]) == 1
    assert _invoke("reconcile", "--store", store.url, "--as-of", AS_OF, "--tolerance", "10", "--json")[0] == 0
    code, out = _invoke("reconcile", "--store", store.url, "--account", "operating", "--as-of", AS_OF)
    assert code == 1 and "BREACH" in out and "operating" in out
    assert _invoke("reconcile", "--store", store.url, "--account", "nope")[0] == 2

    code, out = _invoke("reconcile", "unmatched", "--store", store.url, "--json")
    assert code == 0
    rows = json.loads(out)["data"]
    assert sorted((r["side"], r["amount_minor"], r["age_days"], r["reason"]) for r in rows) == [
        ("bank", "1990", 19, "no_counterpart"), ("ledger", "2000", 19, "no_counterpart")]

    # The person who knows records the match, with the difference (a bank charge) noted.
    line_b = _lines(store)["B"]
    assert _invoke("reconcile", "match-manual", "--store", store.url, "--bank-line", line_b,
                   "--ledger-transaction", "erp:b")[0] == 1  # totals differ: refused without the flag
    code, out = _invoke("reconcile", "match-manual", "--store", store.url, "--bank-line", line_b,
                        "--ledger-transaction", "erp:b", "--allow-difference", "--note", "wire fee", "--json")
    assert code == 0, out
    match_id = json.loads(out)["data"]["match_id"]
    code, out = _invoke("reconcile", "unmatched", "--store", store.url, "--json")
    assert json.loads(out)["data"] == []
    code, out = _invoke("reconcile", "matches", "--store", store.url, "--rule", "manual", "--json")
    assert [(m["id"], m["bank_total"], m["ledger_total_minor"], m["note"]) for m in json.loads(out)["data"]] == \
        [(match_id, "19.90", "2000", "wire fee")]
    again = run_reconciliation(store, as_of=date(2025, 3, 20))
    assert again.matching.bank_unmatched == 0 and again.matching.matches_by_rule == {}
    # A rematch keeps manual matches.
    assert run_reconciliation(store, as_of=date(2025, 3, 20), rematch=True).matching.matches_by_rule == \
        {"amount_date": 1}
    assert _invoke("reconcile", "unmatch", "--store", store.url, match_id)[0] == 0
    assert _invoke("reconcile", "unmatch", "--store", store.url, match_id)[0] == 2
    assert run_reconciliation(store, as_of=date(2025, 3, 20)).matching.bank_unmatched == 1


def test_manual_match_refuses_what_does_not_fit(store):
    from datetime import UTC, datetime

    from ledger_pipeline.reconcile.matching import record_manual_match

    scenario.setup_bank_account(store)
    # c and d are on different days, so no rule groups them: a person has to.
    scenario.post_cash(store, [("erp:a", 1000, BASE, None), ("erp:c", 300, BASE, None),
                               ("erp:d", 200, date(2025, 3, 2), None)])
    scenario.load_lines(store, BASE, [(BASE, 1000, "A"), (BASE, 500, "CD")], closing=1500)
    run_reconciliation(store, as_of=BASE)
    lines = _lines(store)

    def manual(bank, ledger, **kw):
        with store.transaction() as conn:
            return record_manual_match(conn, bank_line_ids=bank, ledger_transactions=ledger, seq=conn.change_seq(),
                                       now=datetime.now(UTC), **kw)

    with pytest.raises(LedgerError, match="already matched"):
        manual([lines["A"]], ["erp:a"])
    with pytest.raises(InputError, match="not found"):
        manual(["no-such-line"], ["erp:c"])
    with pytest.raises(InputError, match="no entry"):
        manual([lines["CD"]], ["erp:zzz"])
    with store.connect() as conn:
        d_id = conn.scalar("SELECT id FROM ledger_transactions WHERE external_id = 'erp:d'")
    result = manual([lines["CD"]], ["erp:c", d_id])  # one line for two transactions, by external id or id
    assert (result["bank_total"], result["ledger_total"], result["ledger_transactions"]) == (500, 500, 2)
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM recon_unmatched WHERE status = 'open'") == 0
