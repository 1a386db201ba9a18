"""Processor reconciliation on records parsed by the real Stripe and Adyen connectors (both engines)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from connectors.adyen import parse_settlement_report
from connectors.common.records import records_to_arrow
from connectors.stripe import parse_file as parse_stripe_file
from ledger_pipeline.ingest.landing import land_records
from ledger_pipeline.reconcile import processor_breaks, run_reconciliation

FIXTURE_PAYOUT = Path(__file__).parents[1] / "fixtures" / "stripe" / "payout.json"  # stripe-mock's payout

ITEMIZED_HEADER = "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category," \
                  "source_id,description,automatic_payout_id\n"
SDR_HEADER = ("Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,"
              "Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,"
              "Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),"
              "Payment Method Variant,Modification Merchant Reference,Batch Number\n")


def _sdr_row(psp, kind, nd, nc, batch, gross="31.45"):
    return (f"CompanyNL,YOURCOMPANY_ACCOUNT,{psp},CM{psp[-4:]},mc,2021-01-05 00:21:32,CET,{kind},{psp}9,USD,,"
            f"{gross if kind != 'MerchantPayout' else ''},1,USD,{nd},{nc},,0.16,0.05,0.09,mcstandardcredit,380,{batch}\n")


def _land(store, records):
    with store.transaction() as conn:
        land_records(conn, records_to_arrow(records), batch_id=str(uuid.uuid4()), seq=conn.change_seq())


def test_stripe_payouts_and_adyen_batches_are_checked(store, tmp_path):
    base = json.loads(FIXTURE_PAYOUT.read_text())  # the real payout object, three times with our ids/amounts
    payouts = [{**base, "id": pid, "amount": amount} for pid, amount in
               (("po_1Ok", 1100), ("po_1Short", 5000), ("po_1Empty", 700))]
    (tmp_path / "payouts.json").write_text(json.dumps(payouts))
    (tmp_path / "itemized.csv").write_text(ITEMIZED_HEADER + "".join([
        "txn_1,2024-05-01 10:00:00,2024-05-03 00:00:00,usd,12.00,0.65,11.35,charge,ch_1,,po_1Ok\n",
        "txn_2,2024-05-01 11:00:00,2024-05-03 00:00:00,usd,-0.35,0.00,-0.35,refund,re_1,,po_1Ok\n",
        "txn_3,2024-05-02 09:00:00,2024-05-04 00:00:00,usd,51.00,1.10,49.90,charge,ch_2,,po_1Short\n",
        "txn_4,2024-05-02 09:30:00,2024-05-04 00:00:00,usd,3.00,0.10,2.90,charge,ch_3,,po_1Unseen\n",
    ]))
    (tmp_path / "sdr.csv").write_text(SDR_HEADER + "".join([
        _sdr_row("1829098024817852", "Settled", "", "31.15", "12"),
        _sdr_row("1829098024817853", "Refunded", "5.00", "", "12"),
        _sdr_row("1829098024817854", "Fee", "0.15", "", "12"),
        _sdr_row("1829098024817855", "MerchantPayout", "26.00", "", "12"),
        _sdr_row("1829098024817856", "Settled", "", "10.00", "13"),
        _sdr_row("1829098024817857", "MerchantPayout", "9.00", "", "13"),
        _sdr_row("1829098024817858", "Settled", "", "4.00", "14"),
    ]))
    _land(store, parse_stripe_file(tmp_path / "payouts.json") + parse_stripe_file(tmp_path / "itemized.csv")
          + parse_settlement_report(tmp_path / "sdr.csv"))

    breaks = {(b.processor, b.settlement_id, b.reason): (b.payout_amount, b.items_total, b.difference)
              for b in processor_breaks(store)}
    assert breaks == {
        ("stripe", "po_1Short", "sum_mismatch"): (5000, 4990, 10),
        ("stripe", "po_1Empty", "payout_without_items"): (700, 0, 700),
        ("stripe", "po_1Unseen", "no_payout"): (None, 290, None),
        ("adyen", "YOURCOMPANY_ACCOUNT:13", "sum_mismatch"): (900, 1000, -100),
        ("adyen", "YOURCOMPANY_ACCOUNT:14", "no_payout"): (None, 400, None),
    }
    # Refreshing again (and a reconciliation run) changes nothing; the run lists the same breaks.
    assert len(processor_breaks(store)) == 5
    result = run_reconciliation(store)
    assert {(b.processor, b.settlement_id) for b in result.processor_breaks} == \
        {(p, s) for p, s, _ in breaks}
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM processor_settlement_items") == 3 + 4 + 7

