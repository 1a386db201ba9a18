"""The demo: the bundled scenario is deterministic, and the whole graph materializes on it on a temporary
DuckDB store and warehouse with every check passing, the planted bad records in quarantine, the payouts
reconciled and the warehouse synced."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from ledger_pipeline.demo.mock_api import DEMO_API_SOURCES, MockApi
from ledger_pipeline.demo.runner import run_demo
from ledger_pipeline.demo.scenario import DEFAULT_SEED, generate_scenario
from ledger_pipeline.ledger.store import Store


def _digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _expected_from_the_scenario(folder: Path) -> dict:
    """What the demo should report, counted from a fresh copy of the scenario's files (the same seed gives
    the same bytes; the demo moves its own copy as it ingests): one ledger transaction per
    Stripe balance transaction, Adyen report row, wallet event, payment order and ERP journal entry (a group
    of lines sharing an external id), less the planted bad records; one bank line per BAI2 detail record
    (``16``) and camt.053 entry (``<Ntry>``)."""
    planted = generate_scenario(folder, seed=DEFAULT_SEED).planted_bad_records
    bad = {source: sum(1 for p in planted if p.startswith(f"{source} ")) for source in ("stripe", "events", "erp")}
    [stripe_file] = (folder / "stripe").iterdir()
    stripe = len(json.loads(stripe_file.read_text())["data"])
    [adyen_file] = (folder / "adyen").iterdir()
    adyen = len(list(csv.DictReader(adyen_file.open(newline=""))))
    [events_file] = (folder / "events").iterdir()
    events = len(events_file.read_text().splitlines())
    [orders_file] = (folder / "payment_orders").iterdir()
    orders = len(orders_file.read_text().splitlines())
    [journal_file] = (folder / "entries").iterdir()
    journal = list(csv.DictReader(journal_file.open(newline="")))
    bank_files = sorted((folder / "bank").iterdir())
    bank_lines = sum(sum(1 for line in f.read_text().splitlines() if line.startswith("16,")) + f.read_text().count("<Ntry>")
                     for f in bank_files)
    posted = {"stripe": stripe - bad["stripe"], "adyen": adyen, "events": events - bad["events"],
              "payment_orders": orders, "erp": len({row["external_id"] for row in journal}) - bad["erp"]}
    return {"records": {"stripe": stripe, "adyen": adyen, "events": events, "payment_orders": orders},
            "journal_lines": len(journal), "bank_statements": len(bank_files), "bank_lines": bank_lines,
            "orders": orders, "posted": posted, "bad": sum(bad.values())}


def test_the_scenario_is_the_same_for_the_same_seed(tmp_path):
    first = generate_scenario(tmp_path / "a", seed=7)
    second = generate_scenario(tmp_path / "b", seed=7)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert first.records == second.records and first.stripe_payout_minor == second.stripe_payout_minor
    other = generate_scenario(tmp_path / "c", seed=8)
    assert other.stripe_payout_minor != first.stripe_payout_minor
    assert set(first.files) == {"stripe", "adyen", "bank", "events", "payment_orders", "entries"}


@pytest.mark.slow
def test_the_whole_graph_materializes_on_the_scenario_and_every_check_passes(tmp_path, monkeypatch, capfd):
    # no DAGSTER_HOME: the run is recorded in the demo's throwaway in-memory instance, as ``ledger-pipeline
    # demo`` does without one (an instance on SQLite files spends most of the run committing its events)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    events = []
    result = run_demo(store_url=f"duckdb:///{tmp_path / 'ledger.duckdb'}",
                      warehouse_path=tmp_path / "warehouse.duckdb", workdir=tmp_path / "demo",
                      progress=lambda event, detail: events.append((event, dict(detail))))
    # Dagster's and dbt's detail went to the log, not the terminal; the caller heard one event per step
    terminal = capfd.readouterr()
    assert terminal.out == "" and terminal.err == "", terminal
    log = (tmp_path / "demo" / "demo.log").read_text()
    assert "dbt" in log and "observation" not in log.lower()  # every dbt test is an asset check
    assert events[0][0] == "setup" and events[0][1]["files"] >= 6
    steps = {d["step"]: d for e, d in events if e == "step"}
    assert {"ingest_stripe", "warehouse_sync", "reporting_dbt_models"} <= set(steps)
    assert all(d["status"] == "ok" for d in steps.values())
    summary = result.as_dict()
    json.dumps(summary, default=str)  # the --json output is plain JSON
    assert result.success, summary["checks"]
    assert result.not_run == []
    assert result.checks["failed"] == [] and result.checks["passed"] == result.checks["total"] >= 11
    assert {"stripe", "adyen", "bank", "events", "payment_orders"} <= set(result.records_ingested)
    expected = _expected_from_the_scenario(tmp_path / "inputs")
    assert expected["bad"] == 4 and all(expected["posted"].values())  # the scenario's planted records, read back
    # API mode: Stripe, Lithic, QuickBooks and Chargebee are also pulled from the mock API (demo/mock_api.py),
    # which serves each recorded Stripe object once
    stripe_served = [o for objects in MockApi().collections["stripe"].values() for o in objects]
    for source, records in expected["records"].items():
        assert result.records_ingested[source] == records + (len(stripe_served) if source == "stripe" else 0), source
    assert set(DEMO_API_SOURCES) <= set(result.records_ingested)
    assert result.records_ingested["entries (journal batches)"] == expected["journal_lines"]
    with Store(f"duckdb:///{tmp_path / 'ledger.duckdb'}").connect(read_only=True) as conn:
        from_api = conn.scalar(
            "SELECT count(*) FROM ledger_transactions WHERE source IN ('lithic', 'quickbooks', 'chargebee') "
            f"OR external_id IN ({', '.join(repr('stripe:' + o['id']) for o in stripe_served)})")
    assert from_api > 0
    assert sum(result.transactions.values()) == sum(expected["posted"].values()) + from_api
    assert len(result.quarantined) == expected["bad"]
    reasons = sorted((q["source"], q["reason_code"]) for q in result.quarantined)
    assert reasons == [("erp", "excess_precision"), ("erp", "unknown_account"),
                       ("events", "unmapped_record_type"), ("stripe", "unmapped_record_type")]
    variances = result.reconciliation["recon/recon_balance_variances"]
    assert variances["variances"] == 2 and variances["nonzero_variances"] == 0
    unmatched = result.reconciliation["recon/recon_unmatched"]
    assert unmatched["bank_unmatched"] == 0 and unmatched["ledger_unmatched"] == 0
    # the seller payouts: each payment order is default-ledgered (wallet -> bank account) and matched to its
    # line on the BAI2 statement, and the wallets the deposits funded are paid out to zero
    ledgered = result.reconciliation["recon/recon_runs"]["payment_orders_ledgered"]
    assert (ledgered["created"], ledgered["refused"]) == (expected["orders"], 0)
    statements = result.reconciliation["recon/bank_statements"]
    assert (statements["statements_loaded_this_run"], statements["lines_loaded_this_run"]) == (
        expected["bank_statements"], expected["bank_lines"])
    assert result.reconciliation["recon/recon_matches"]["bank_lines_matched_this_run"] == expected["bank_lines"]
    from ledger_pipeline.demo.runner import seller_wallet
    from ledger_pipeline.demo.scenario import SELLERS
    from ledger_pipeline.ledger.balances import account_balances

    with Store(f"duckdb:///{tmp_path / 'ledger.duckdb'}").connect(read_only=True) as conn:
        wallets = {row["account"]: row for row in account_balances(conn) if "wallet" in row["account"]}
    assert sorted(wallets) == sorted(seller_wallet(s).name for s in SELLERS)
    assert all(w["posted_amount"] == 0 and w["posted_debits"] > 0 for w in wallets.values())
    assert result.warehouse_rows["ledger_transactions"] == sum(result.transactions.values())
    assert result.warehouse_rows["ledger_entries"] == result.entries
    assert len(result.reporting) >= 10
    # the payouts report has the demo's payouts: Stripe's and Adyen's to their bank accounts (by their
    # types) and one per seller payout (wallet -> bank account, by categories), each for its full amount;
    # besides them, the payouts among the records the mock API served
    scenario = generate_scenario(tmp_path / "payouts", seed=DEFAULT_SEED)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as warehouse:
        rows = warehouse.sql("SELECT source, currency, payout_amount_minor, external_id FROM reporting.rpt_payouts").fetchall()
    served_ids = [o["id"] for o in stripe_served]

    def from_the_api(source: str, external_id: str) -> bool:
        return (source in DEMO_API_SOURCES and source != "stripe") or (
            source == "stripe" and any(i in external_id for i in served_ids))

    payouts = [(s, c, a) for s, c, a, e in rows if not from_the_api(s, e)]
    assert len(payouts) == 2 + len(SELLERS)
    assert {s for s, c, a, e in rows if from_the_api(s, e)} <= set(DEMO_API_SOURCES)
    by_source = {(s, c): sorted(int(a) for s_, c_, a in payouts if (s_, c_) == (s, c)) for s, c, _ in payouts}
    assert by_source[("stripe", "USD")] == [scenario.stripe_payout_minor]
    assert by_source[("adyen", "EUR")] == [scenario.adyen_payout_minor]
    assert len(by_source[("payment_order", "USD")]) == len(SELLERS)
    assert sum(by_source[("payment_order", "USD")]) == scenario.seller_payouts_minor


def test_the_summary_is_this_runs_changes(tmp_path):
    from ledger_pipeline.demo.runner import _changes

    before = {"transactions": {"posted": 5}, "records": {"stripe": 3}, "entries": 10,
              "quarantined": [{"id": "q1", "reason": "old"}]}
    after = {"transactions": {"posted": 7, "pending": 1}, "records": {"stripe": 3, "adyen": 2}, "entries": 16,
             "quarantined": [{"id": "q1", "reason": "old"}, {"id": "q2", "reason": "new"}]}
    assert _changes(before, after) == {"transactions": {"posted": 2, "pending": 1}, "records": {"adyen": 2},
                                       "entries": 6, "quarantined": [{"id": "q2", "reason": "new"}]}
    assert _changes(after, after) == {"transactions": {}, "records": {}, "entries": 0, "quarantined": []}


def test_the_summary_prints_tables_and_full_reasons(capsys):
    from ledger_pipeline.cli.demo import render

    reason = ("excess_precision: erp_journal.csv:10: amount 10.005 has more decimal places than USD allows (2); "
              "excess_precision: erp_journal.csv:10: amount 10.005 has more decimal places than USD allows (2)")
    render({"success": True, "seconds": 1.0, "dagster_run_id": "abcdef12", "store": "duckdb:///s.duckdb",
            "warehouse": "w.duckdb", "landing": "landing", "log": "var/demo/demo.log",
            "records_ingested": {"stripe": 35}, "transactions": {"posted": 69}, "entries": 189,
            "quarantined": [{"reason_code": "excess_precision", "source": "erp", "external_id": "erp:JE-1004",
                             "reason": reason}],
            "checks": {"total": 2, "passed": 2, "failed": []},
            "reconciliation": {"recon/recon_runs": {"accounts_reconciled": 2,
                                                    "payment_orders_ledgered": {"created": 4, "refused": 0}}},
            "warehouse_rows": {"ledger_entries": 189}, "reporting": {}, "not_run": [],
            "next_steps": ["make ui"]})
    out = capsys.readouterr().out
    assert reason.split("; ")[0] in " ".join(out.split()) and out.count("10.005") == 1  # whole, once
    assert "payment_orders_ledgered.created" in out and "{" not in out  # a table, no Python dict text
