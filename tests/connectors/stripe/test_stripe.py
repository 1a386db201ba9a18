"""Stripe from files (report CSVs, API objects) and from the API (a local server with Stripe's list
semantics, a 429 with Retry-After and a 500 on the way); the ledger sums match the source's totals."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from werkzeug import Request, Response

from connectors.common.errors import ParseError
from connectors.stripe import make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors.api_support import assert_ledger_invariants, ledger_transactions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
REPORTS = FIXTURES / "reports"


def balances(store, prefix: str) -> dict[str, int]:
    """account name -> posted debits - credits."""
    with store.connect() as conn:
        rows = conn.all(
            "SELECT a.name, CAST(b.posted_debits - b.posted_credits AS BIGINT) FROM ledger_account_balances b "
            "JOIN ledger_accounts a ON a.id = b.ledger_account_id WHERE a.name LIKE :p", {"p": prefix + "%"})
    return {name: int(v) for name, v in rows}


def unbalanced(store) -> int:
    with store.connect() as conn:
        return conn.scalar(
            "SELECT count(*) FROM (SELECT ledger_transaction_id, currency FROM ledger_entries GROUP BY 1, 2 "
            "HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0) x")


def test_every_stripe_object_sample_parses():
    for name in ("balance_transaction", "charge", "refund", "payout", "dispute", "transfer", "application_fee"):
        (record,) = parse_file(FIXTURES / f"{name}.json")
        raw = json.loads((FIXTURES / f"{name}.json").read_text())
        assert record.object_id == raw["id"] and record.fields["amount"] == raw["amount"]
        assert record.fields["currency"] == raw["currency"].upper()
        assert record.fields["created"] == "2009-02-13T23:31:30+00:00"


def test_reports_post_balanced_transactions_whose_sums_match_the_report(store):
    report = parse_file(REPORTS / "balance_change_from_activity_itemized.csv")
    first = ingest(store, "stripe", files=[REPORTS / "balance_change_from_activity_itemized.csv"])
    assert (first.landed, first.created, first.quarantined, first.unmapped) == (7, 7, 0, 0)
    assert unbalanced(store) == 0
    usd = [r.fields for r in report if r.fields["currency"] == "USD"]
    got = balances(store, "stripe:")
    assert got["stripe:balance:USD"] == sum(f["net"] for f in usd) == 27025
    assert got["stripe:fees:USD"] == sum(f["fee"] for f in usd) == 3975
    assert got["stripe:gross_sales:USD"] == -135000  # credit-normal: 100.00 + 1,250.00 collected
    assert got["stripe:refunds:USD"] == 4000
    assert got["stripe:disputes:USD"] == 0  # the dispute was reversed
    assert got["stripe:payouts_to_bank:USD"] == 100000
    assert got["stripe:balance:JPY"] == 4825 and got["stripe:fees:JPY"] == 175
    # the payout report repeats three balance transactions (no-ops) and adds one fee
    second = ingest(store, "stripe", files=[REPORTS / "payout_reconciliation_itemized.csv"])
    assert (second.landed, second.created, second.duplicates, second.quarantined) == (4, 1, 3, 0)
    assert balances(store, "stripe:balance:USD")["stripe:balance:USD"] == 27025 - 200
    again = ingest(store, "stripe", files=[REPORTS / "balance_change_from_activity_itemized.csv",
                                           REPORTS / "payout_reconciliation_itemized.csv"])
    assert (again.landed, again.created, again.entries_posted) == (0, 0, 0)


def test_report_with_bad_amount_writes_nothing(store, tmp_path):
    bad = tmp_path / "report.csv"
    lines = (REPORTS / "balance_change_from_activity_itemized.csv").read_text().splitlines()
    bad.write_text("\n".join(lines[:3] + [lines[3].replace("-40.00,0.00,-40.00", "-40.00,0.00,-40.001")]) + "\n")
    with pytest.raises(ParseError, match=r"report.csv, line 4: column 'net'"):
        ingest(store, "stripe", files=[REPORTS / "balance_change_from_activity_itemized.csv", bad])
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM raw_records") == 0
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 0


def test_truncated_json_lines_name_the_line(tmp_path):
    path = tmp_path / "bts.jsonl"
    obj = json.loads((FIXTURES / "balance_transaction.json").read_text())
    path.write_text(json.dumps(obj) + "\n" + json.dumps(obj)[:50] + "\n")
    with pytest.raises(ParseError, match=r"bts.jsonl, line 2: malformed JSON line"):
        parse_file(path)


# ---------------------------------------------------------------- API mode against a local server

def _objects(stream_obj: str, n: int, start: int, amount: int) -> list[dict]:
    base = json.loads((FIXTURES / f"{stream_obj}.json").read_text())
    out = []
    for i in range(n):
        obj = copy.deepcopy(base)
        obj["id"] = f"{base['id'][:4]}{i:04d}"
        obj["created"] = start + i * 60
        obj["amount"] = amount + i
        if stream_obj == "balance_transaction":
            obj["fee"] = 30
            obj["net"] = obj["amount"] - 30
        out.append(obj)
    return sorted(out, key=lambda o: -o["created"])  # Stripe lists newest first


class FakeStripe:
    """Stripe list semantics: newest first, created[gte], starting_after, limit; scripted failures."""

    def __init__(self):
        self.data = {"/v1/balance_transactions": _objects("balance_transaction", 5, 1_700_000_000, 1000),
                     "/v1/charges": _objects("charge", 3, 1_700_000_000, 1000)}
        self.failures = {("/v1/balance_transactions", "txn_0003"): 429, ("/v1/charges", None): 500}
        self.requests: list[tuple[str, dict]] = []

    def __call__(self, request: Request) -> Response:
        args = request.args.to_dict()
        self.requests.append((request.path, args))
        key = (request.path, args.get("starting_after"))
        if key in self.failures:
            status = self.failures.pop(key)
            return Response("{}", status=status, headers={"Retry-After": "2"} if status == 429 else {})
        items = [o for o in self.data.get(request.path, [])
                 if "created[gte]" not in args or o["created"] >= int(args["created[gte]"])]
        if "starting_after" in args:
            ids = [o["id"] for o in items]
            items = items[ids.index(args["starting_after"]) + 1:]
        limit = int(args.get("limit", 10))
        page = {"object": "list", "url": request.path, "has_more": len(items) > limit, "data": items[:limit]}
        return Response(json.dumps(page), content_type="application/json")


@pytest.fixture
def fake_stripe(httpserver, monkeypatch):
    fake = FakeStripe()
    httpserver.expect_request("/v1/balance_transactions").respond_with_handler(fake)
    httpserver.expect_request("/v1/charges").respond_with_handler(fake)
    for path in ("refunds", "payouts", "disputes", "transfers", "application_fees"):
        httpserver.expect_request(f"/v1/{path}").respond_with_handler(fake)
    monkeypatch.setattr("connectors.stripe.settings.PAGE_LIMIT", 2)
    return fake


def test_api_pages_retries_cursor_and_a_second_run_adds_nothing(store, httpserver, fake_stripe):
    sleeps: list[float] = []
    client = make_client(httpserver.url_for(""), api_key="sk_test_x", sleep=sleeps.append,
                         rate_limit_per_second=None)
    first = ingest(store, "stripe", api=True, client=client)
    assert first.streams["balance_transactions"] == 5 and first.streams["charges"] == 3
    assert (first.created, first.quarantined, first.ignored) == (5, 0, 3)
    assert 2.0 in sleeps and len(sleeps) == 2  # the 429's Retry-After, and a backoff after the 500
    bt_calls = [a for p, a in fake_stripe.requests if p == "/v1/balance_transactions"]
    assert [a.get("starting_after") for a in bt_calls] == [None, "txn_0003", "txn_0003", "txn_0001"]
    newest = str(1_700_000_000 + 4 * 60)
    assert first.cursors["balance_transactions"] == newest
    with store.connect() as conn:
        assert conn.scalar("SELECT cursor FROM connector_cursors WHERE source = 'stripe' "
                           "AND stream = 'balance_transactions'") == newest
    assert balances(store, "stripe:balance:USD")["stripe:balance:USD"] == sum(1000 + i - 30 for i in range(5))

    # a new object arrives; the next run starts at the cursor minus the lookback and adds only it
    fake_stripe.data["/v1/balance_transactions"].insert(0, {
        **fake_stripe.data["/v1/balance_transactions"][0], "id": "txn_0099", "created": int(newest) + 600,
        "amount": 5000, "fee": 0, "net": 5000})
    fake_stripe.requests.clear()
    second = ingest(store, "stripe", api=True, client=client)
    gte = [a["created[gte]"] for p, a in fake_stripe.requests if p == "/v1/balance_transactions"]
    assert gte and all(int(g) == int(newest) - 3600 for g in gte)
    assert (second.landed, second.created) == (1, 1)
    assert second.cursors["balance_transactions"] == str(int(newest) + 600)
    third = ingest(store, "stripe", api=True, client=client)
    assert (third.landed, third.created, third.entries_posted) == (0, 0, 0)
    client.close()


def test_api_failure_after_retries_keeps_the_cursor(store, httpserver):
    httpserver.expect_request("/v1/balance_transactions").respond_with_data("down", status=503)
    client = make_client(httpserver.url_for(""), sleep=lambda s: None, max_retries=2)
    with pytest.raises(Exception, match="HTTP 503 after 2 retries"):
        ingest(store, "stripe", api=True, client=client, streams=["balance_transactions"])
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM connector_cursors") == 0
        assert conn.scalar("SELECT count(*) FROM raw_records") == 0


# A Balance report export made without a timezone: `created` (UTC) and no `created_utc`, with the
# payment metadata columns a Dashboard export adds.
EXPORT_HEADER = ("balance_transaction_id,created,available_on,currency,gross,fee,net,reporting_category,source_id,"
                 "description,payment_metadata[order_id],payment_metadata[customer_ref]")


def test_report_export_with_created_and_no_created_utc_is_read_as_utc(tmp_path):
    export = tmp_path / "Balance_change_from_activity_USD_2024-03-01_to_2024-03-31_UTC.csv"
    export.write_text(EXPORT_HEADER + "\n"
                      "txn_3OkQ2x,2024-03-04 21:17:09,2024-03-06 00:00:00,usd,49.00,1.72,47.28,charge,ch_3OkQ2x,"
                      "Subscription update,A-1009,cus_PaYb\n"
                      "txn_3OkR7c,2024-03-05 08:02:44,2024-03-07 00:00:00,usd,-49.00,0.00,-49.00,refund,re_3OkR7c,"
                      "REFUND FOR CHARGE,A-1009,cus_PaYb\n")
    records = parse_file(export)
    assert [(r.object_id, r.fields["created"], r.fields["amount"], r.fields["fee"], r.fields["net"]) for r in records] == [
        ("txn_3OkQ2x", "2024-03-04T21:17:09+00:00", 4900, 172, 4728),
        ("txn_3OkR7c", "2024-03-05T08:02:44+00:00", -4900, 0, -4900)]
    assert not any(r.fields.get("quarantine") for r in records)


def test_missing_column_error_shows_metadata_column_names_whole(tmp_path):
    from typer.testing import CliRunner

    from ledger_pipeline.cli import app

    export = tmp_path / "export.csv"
    export.write_text(EXPORT_HEADER.replace("reporting_category,", "") + "\n")
    result = CliRunner().invoke(app, ["parse", "stripe", str(export)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "missing column(s) reporting_category" in message
    assert "payment_metadata[order_id], payment_metadata[customer_ref]" in message


def test_gross_minus_fee_not_net_is_a_named_warning_and_quarantined(store, tmp_path):
    from typer.testing import CliRunner

    from ledger_pipeline.cli import app

    report = tmp_path / "report.csv"
    lines = (REPORTS / "balance_change_from_activity_itemized.csv").read_text().splitlines()
    report.write_text("\n".join(lines[:2] + [lines[2].replace('36.55,"1,213.45"', '36.55,"1,214.45"')]) + "\n")
    result = CliRunner().invoke(app, ["parse", "stripe", str(report), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["data"]["warnings"]
    assert [(w["code"], w["record_ref"]) for w in warnings] == [("gross_fee_net_mismatch", f"{report}, line 3")]
    assert "gross 1,250.00 - fee 36.55 != net 1,214.45" in warnings[0]["detail"]

    got = ingest(store, "stripe", files=[report])
    assert (got.landed, got.created, got.quarantined) == (2, 1, 1)
    with store.connect() as conn:
        assert conn.all("SELECT reason_code, external_id FROM quarantine") == [("gross_fee_net_mismatch",
                                                                                "stripe:txn_1B")]
    assert unbalanced(store) == 0
    taken = parse_file(report, verify=False)
    assert taken[1].fields["warnings"][0]["code"] == "gross_fee_net_mismatch" and "quarantine" not in taken[1].fields


def test_api_balance_transaction_whose_amount_minus_fee_is_not_net_is_flagged(tmp_path):
    bt = json.loads((FIXTURES / "balance_transaction.json").read_text())
    bt.update(amount=1000, fee=59, net=940)
    path = tmp_path / "bt.json"
    path.write_text(json.dumps(bt))
    (record,) = parse_file(path)
    assert record.fields["quarantine"]["code"] == "gross_fee_net_mismatch"


def test_pending_balance_transaction_is_revisited_until_available(store, httpserver, fake_stripe, monkeypatch):
    """A balance transaction pulled ``pending`` is listed again on later runs, however far the cursor moved,
    until Stripe reports it ``available``; its ledger transaction then moves pending -> posted, once."""
    fake_stripe.failures.clear()
    monkeypatch.setattr("connectors.stripe.settings.RATE_LIMIT_PER_SECOND", None)
    bts = fake_stripe.data["/v1/balance_transactions"]
    newest = bts[0]["created"]
    pending = {**bts[-1], "id": "txn_pend", "created": bts[-1]["created"] + 30, "status": "pending",
               "amount": 700, "fee": 20, "net": 680}
    bts.insert(len(bts) - 1, pending)
    url = httpserver.url_for("")
    bt_only = ["balance_transactions"]  # after a first run of every stream, the one that moves

    def bt_windows() -> list[int]:
        return [int(a["created[gte]"]) for p, a in fake_stripe.requests
                if p == "/v1/balance_transactions" and "created[gte]" in a]

    first = ingest(store, "stripe", api=True, base_url=url)
    assert (first.created, first.transitioned) == (6, 0)
    assert ledger_transactions(store, "stripe")["stripe:txn_pend"]["status"] == "pending"

    # a newer balance transaction moves the cursor hours past the pending one (beyond the 1 h lookback)
    bts.insert(0, {**bts[0], "id": "txn_h5", "created": newest + 5 * 3600})
    fake_stripe.requests.clear()
    later = ingest(store, "stripe", api=True, base_url=url, streams=bt_only)
    assert (later.landed, later.created, later.transitioned) == (1, 1, 0)
    assert bt_windows() and max(bt_windows()) <= pending["created"]  # still revisited
    assert later.cursors["balance_transactions"] == f"{newest + 5 * 3600} revisit_from={pending['created']}"
    assert ledger_transactions(store, "stripe")["stripe:txn_pend"]["status"] == "pending"

    # Stripe makes the funds available: the same transaction is posted, nothing else moves
    pending["status"] = "available"
    fake_stripe.requests.clear()
    settled = ingest(store, "stripe", api=True, base_url=url, streams=bt_only)
    assert (settled.landed, settled.created, settled.transitioned, settled.quarantined) == (1, 0, 1, 0)
    got = ledger_transactions(store, "stripe")
    assert got["stripe:txn_pend"]["status"] == "posted" and got["stripe:txn_pend"]["debits"] == 700
    assert {t["status"] for t in got.values()} == {"posted"} and len(got) == 7
    assert_ledger_invariants(store)

    # nothing is pending any more: the window closes back to the cursor's lookback, and nothing is added
    fake_stripe.requests.clear()
    again = ingest(store, "stripe", api=True, base_url=url, streams=bt_only)
    assert (again.landed, again.created, again.transitioned, again.entries_posted) == (0, 0, 0, 0)
    assert set(bt_windows()) == {newest + 5 * 3600 - 3600}
    assert again.cursors["balance_transactions"] == str(newest + 5 * 3600)
