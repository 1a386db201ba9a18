"""The everyday commands over the core: transaction filters and reverse, accounts show/update/limits/archive,
quarantine discard and the audit log, run as an operator does (subprocess), on DuckDB and PostgreSQL."""

from __future__ import annotations

import json

from tests.cli.conftest import run_cli

BATCH = (
    "external_id,account,direction,amount_minor,effective_at,metadata\n"
    'a,cash,debit,1250,2025-06-01,"{""order"": ""o1""}"\n'
    'a,revenue,credit,1250,2025-06-01,"{""order"": ""o1""}"\n'
    "b,cash,debit,500,2025-07-01,\n"
    "b,revenue,credit,500,2025-07-01,\n"
    "c,cash,debit,5,2025-07-02,\n"
    "c,nowhere,credit,5,2025-07-02,\n"
)


def _scenario(url: str, tmp_path) -> None:
    def cli(*args: str, code: int = 0):
        run = run_cli(*args, "--store", url, cwd=tmp_path)
        assert run.code == code, (args, run.err)
        if code >= 2:  # exit 1 prints the refused transactions on stdout
            run.one_error_line()
        return run

    def data(*args: str):
        return json.loads(cli(*args, "--json").out)["data"]

    cli("init")
    cli("accounts", "create", "cash", "--normal-balance", "debit", "--currency", "USD")
    cli("accounts", "create", "revenue", "--normal-balance", "credit", "--currency", "USD")
    (tmp_path / "e.csv").write_text(BATCH)
    cli("post", str(tmp_path / "e.csv"), code=1)  # c: unknown account, quarantined

    assert [t["external_id"] for t in data("transactions", "--metadata", "order=o1")] == ["a"]
    assert {t["external_id"] for t in data("transactions", "--account", "revenue")} == {"a", "b"}
    assert [t["external_id"] for t in data("transactions", "--effective-from", "2025-06-15",
                                           "--effective-to", "2025-12-01")] == ["b"]
    cli("transactions", "--metadata", "no-equals-sign", code=2)

    reversal = data("transactions", "reverse", "a")
    assert (reversal["external_id"], reversal["action"]) == ("a:reversal", "create")
    assert data("transactions", "reverse", "a")["action"] == "noop"
    cli("transactions", "reverse", "no-such-tx", code=2)

    cli("accounts", "update", "cash", "--description", "Till", "--metadata", "region=eu")
    cli("accounts", "limits", "cash", "--min-available", "0")
    shown = data("accounts", "show", "cash")
    assert shown["description"] == "Till" and shown["metadata"] == {"region": "eu"}
    assert (shown["min_available_balance"], shown["min_available_balance_minor"]) == ("0.00", "0")
    assert (shown["balances"]["posted"], shown["balances"]["posted_minor"]) == ("5.00", "500")
    assert shown["link"] is None
    cli("accounts", "show", "nobody", code=2)
    cli("accounts", "archive", "revenue")
    assert data("accounts", "show", "revenue")["archived_at"]

    [item] = data("quarantine", "list")
    cli("quarantine", "discard", item["id"], "--reason", "account never existed")
    cli("quarantine", "discard", item["id"], "--reason", "again", code=2)
    assert data("quarantine", "list", "--status", "discarded")[0]["resolution"] == "account never existed"
    assert data("quarantine", "replay")["transactions_in"] == 0  # no longer replayed

    [audit] = data("audit", "list", "--object-type", "quarantine")
    assert (audit["action"], audit["object_id"], audit["detail"]) == ("discard", item["id"],
                                                                      {"reason": "account never existed"})
    assert {r["action"] for r in data("audit", "list", "--actor", "cli", "--limit", "100")} >= {
        "update", "set_limits", "archive", "discard"}


def test_everyday_commands(store_url, tmp_path):
    _scenario(store_url, tmp_path)
