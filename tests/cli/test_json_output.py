"""``--json``: one envelope for every command (``{"version": 1, "data": ...}``) and amounts as a decimal string
plus the integer of minor units as a string, exact beyond 2**53 (where a JavaScript number stops being)."""

from __future__ import annotations

import json

from tests.cli.conftest import run_cli

BIG = 2**53 + 1  # 9007199254740993: a double cannot hold it

BATCH = (
    "external_id,account,direction,amount_minor,effective_at\n"
    f"a,cash,debit,{BIG},2025-06-01\n"
    f"a,revenue,credit,{BIG},2025-06-01\n"
    "y,till_jpy,debit,1234,2025-06-01\n"
    "y,sales_jpy,credit,1234,2025-06-01\n"
)


def _envelope(run) -> object:
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert set(document) == {"version", "data"} and document["version"] == 1
    return document["data"]


def test_every_json_output_is_one_envelope_with_exact_amounts(ready_store, tmp_path):
    def cli(*args: str):
        return run_cli(*args, "--store", ready_store, "--json", cwd=tmp_path)

    for name, normal, currency in [("cash", "debit", "USD"), ("revenue", "credit", "USD"),
                                   ("till_jpy", "debit", "JPY"), ("sales_jpy", "credit", "JPY")]:
        _envelope(cli("accounts", "create", name, "--normal-balance", normal, "--currency", currency))
    (tmp_path / "e.csv").write_text(BATCH)
    assert _envelope(cli("post", str(tmp_path / "e.csv")))["created"] == 2

    balances = {r["account"]: r for r in _envelope(cli("balances"))}
    assert (balances["cash"]["posted_amount"], balances["cash"]["posted_amount_minor"]) == \
        ("90071992547409.93", str(BIG))
    assert (balances["till_jpy"]["posted_amount"], balances["till_jpy"]["posted_amount_minor"]) == ("1234", "1234")
    [tx] = _envelope(cli("transactions", "--external-id", "a"))
    assert {(e["amount"], e["amount_minor"]) for e in tx["entries"]} == {("90071992547409.93", str(BIG))}
    shown = _envelope(cli("accounts", "show", "cash"))
    assert shown["balances"]["available"] == "90071992547409.93"
    assert (shown["max_available_balance"], shown["max_available_balance_minor"]) == (None, None)
    limits = _envelope(cli("accounts", "limits", "revenue", "--max-available", "-1"))
    assert (limits["max_available"], limits["max_available_minor"]) == ("-0.01", "-1")
    assert _envelope(cli("check"))["ok"] is True
    assert isinstance(_envelope(cli("audit", "list")), list)
    assert _envelope(cli("quarantine", "list")) == []

    # No bare number stands for money anywhere in the output.
    text = cli("balances").out
    assert str(BIG) in text and f": {BIG}" not in text


def test_a_json_command_that_fails_prints_one_error_line_and_no_json(ready_store, tmp_path):
    run = run_cli("balances", "--account", "nobody", "--store", ready_store, "--json", cwd=tmp_path)
    assert run.code == 2 and run.out == ""
    assert "nobody" in run.one_error_line()
