"""The bundled sample scenario: a small marketplace, generated from a seed into a landing folder.

"Northwind Market" sells in the US through Stripe (USD) and in Europe through Adyen (EUR), pays its
sellers by bank transfer, and keeps its books in an ERP. One week of activity, written in each system's
own export format, one sub-folder per source (what the landing sensor watches):

=====================  =====================================================================================
``stripe/``            a Stripe API list page of balance transactions: charges (gross, fee, net), refunds,
                       a dispute, and the payout that settles them all to the bank
``adyen/``             an Adyen Settlement Details Report (batch 1): settled payments, a refund, the
                       monthly fee, and the MerchantPayout row (net credits minus net debits of the batch)
``bank/``              the Stripe payout account's BAI2 file (the payout in, the seller payouts out) and the
                       Adyen payout account's camt.053 statement, each with opening and closing balances
``events/``            the marketplace's own production events (JSON lines): seller wallet deposits
``payment_orders/``    payouts to sellers, from the Stripe payout bank account to each seller's bank account
                       (default-ledgered: each debits the seller's wallet and credits the bank account)
``entries/``           the ERP's journal export (rent, salaries) in the ledger's batch format
=====================  =====================================================================================

The planted bad records, each of which must land in quarantine with its reason: a Stripe balance
transaction of a type no mapping knows (``climate_order_purchase``), a production event of an unknown
type, an ERP line with more decimals than USD has (``excess_precision``) and an ERP line on an account
the chart does not have (``unknown_account``).

The same seed gives the same files byte for byte, so the demo's numbers are reproducible.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

DEFAULT_SEED = 20261102
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STRIPE_PAYOUT_ID = "po_1NwMarketDemo0001"
ADYEN_BATCH = 1
US_BANK_ACCOUNT = "9876543210"
US_BANK_ROUTING = "121000248"
EU_IBAN = "NL91ABNA0417164300"
#: the internal account (bank account) that Stripe pays out to and that pays the sellers
US_PAYOUTS_ACCOUNT = "us_payouts"
SELLERS = ("s_alpine_crafts", "s_blue_harbor", "s_cedar_goods", "s_delta_design")


def seller_bank_account(seller: str) -> str:
    """The external account (the seller's bank account) that a seller payout goes to."""
    return f"ea_{seller}"

_ADYEN_COLUMNS = (
    "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
    "Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
    "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
    "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
    "Modification Merchant Reference", "Batch Number",
)


@dataclass
class ScenarioSummary:
    """What the generator wrote, so the demo (and its tests) can say what should come out."""

    seed: int
    files: dict[str, list[str]] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    planted_bad_records: list[str] = field(default_factory=list)
    stripe_payout_minor: int = 0
    adyen_payout_minor: int = 0
    seller_payouts_minor: int = 0

    def as_dict(self) -> dict:
        return {"seed": self.seed, "files": self.files, "records": self.records,
                "planted_bad_records": self.planted_bad_records,
                "stripe_payout_minor": self.stripe_payout_minor, "adyen_payout_minor": self.adyen_payout_minor,
                "seller_payouts_minor": self.seller_payouts_minor}


def _major(minor: int, exponent: int = 2) -> str:
    return str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _write(path: Path, text: str, summary: ScenarioSummary, source: str, records: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    summary.files.setdefault(source, []).append(str(path))
    summary.records[source] = summary.records.get(source, 0) + records


def _stripe(rng: random.Random, folder: Path, summary: ScenarioSummary) -> None:
    txns = []
    charges = []
    for i in range(1, 31):
        gross = rng.randrange(1_000, 25_000)
        fee = (gross * 29 + 500) // 1000 + 30
        created = START + timedelta(hours=5 * i)
        charge_id = f"ch_demo{i:04d}"
        charges.append((charge_id, gross))
        txns.append({"id": f"txn_demo_ch{i:04d}", "object": "balance_transaction", "amount": gross,
                     "available_on": _ts(created + timedelta(days=2)), "created": _ts(created), "currency": "usd",
                     "description": f"Order #{1000 + i}", "exchange_rate": None, "fee": fee,
                     "fee_details": [{"amount": fee, "application": None, "currency": "usd",
                                      "description": "Stripe processing fees", "type": "stripe_fee"}],
                     "net": gross - fee, "reporting_category": "charge", "source": charge_id,
                     "status": "available", "type": "charge"})
    for n, (charge_id, gross) in enumerate(charges[3:5], start=1):
        created = START + timedelta(days=3, hours=n)
        txns.append({"id": f"txn_demo_re{n:04d}", "object": "balance_transaction", "amount": -gross,
                     "available_on": _ts(created), "created": _ts(created), "currency": "usd",
                     "description": f"REFUND FOR CHARGE {charge_id}", "exchange_rate": None, "fee": 0, "fee_details": [],
                     "net": -gross, "reporting_category": "refund", "source": f"re_demo{n:04d}",
                     "status": "available", "type": "refund"})
    dispute_gross = charges[7][1]
    created = START + timedelta(days=4)
    txns.append({"id": "txn_demo_dp0001", "object": "balance_transaction", "amount": -dispute_gross,
                 "available_on": _ts(created), "created": _ts(created), "currency": "usd",
                 "description": "Chargeback withdrawal for ch_demo0008", "exchange_rate": None, "fee": 1500,
                 "fee_details": [{"amount": 1500, "application": None, "currency": "usd",
                                  "description": "Dispute fee", "type": "stripe_fee"}],
                 "net": -dispute_gross - 1500, "reporting_category": "dispute", "source": "dp_demo0001",
                 "status": "available", "type": "adjustment"})
    payout = sum(t["net"] for t in txns)
    created = START + timedelta(days=6)
    txns.append({"id": "txn_demo_po0001", "object": "balance_transaction", "amount": -payout,
                 "available_on": _ts(created), "created": _ts(created), "currency": "usd",
                 "description": "STRIPE PAYOUT", "exchange_rate": None, "fee": 0, "fee_details": [],
                 "net": -payout, "reporting_category": "payout", "source": STRIPE_PAYOUT_ID,
                 "status": "available", "type": "payout"})
    # planted: a type no mapping knows; it must be quarantined, not dropped
    txns.append({"id": "txn_demo_cl0001", "object": "balance_transaction", "amount": -500,
                 "available_on": _ts(created), "created": _ts(created), "currency": "usd",
                 "description": "Stripe Climate contribution", "exchange_rate": None, "fee": 0,
                 "fee_details": [], "net": -500, "reporting_category": "climate_order_purchase",
                 "source": "climorder_demo0001", "status": "available", "type": "climate_order_purchase"})
    summary.planted_bad_records.append("stripe txn_demo_cl0001: balance transaction type climate_order_purchase")
    summary.stripe_payout_minor = payout
    page = {"object": "list", "data": txns, "has_more": False, "url": "/v1/balance_transactions"}
    _write(folder / "stripe" / "balance_transactions_2026-11-02.json", json.dumps(page, indent=1) + "\n",
           summary, "stripe", len(txns))


def _adyen(rng: random.Random, folder: Path, summary: ScenarioSummary) -> None:
    rows = []
    net_credit = net_debit = 0

    def row(**values: str) -> dict[str, str]:
        base = {c: "" for c in _ADYEN_COLUMNS}
        base.update({"Company Account": "NorthwindMarket", "Merchant Account": "NorthwindMarket_EU",
                     "TimeZone": "CET", "Exchange Rate": "1", "Gross Currency": "EUR", "Net Currency": "EUR",
                     "Batch Number": str(ADYEN_BATCH)})
        base.update(values)
        return base

    for i in range(1, 21):
        gross = rng.randrange(1_500, 30_000)
        commission, markup = (gross * 12) // 1000, (gross * 3) // 1000
        scheme, interchange = 11, (gross * 2) // 1000
        net = gross - commission - markup - scheme - interchange
        net_credit += net
        rows.append(row(**{"Psp Reference": f"88{i:014d}", "Merchant Reference": f"EU-{2000 + i}",
                           "Payment Method": "mc", "Creation Date": (START + timedelta(hours=7 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                           "Type": "Settled", "Modification Reference": f"77{i:014d}",
                           "Gross Credit (GC)": _major(gross), "Net Credit (NC)": _major(net),
                           "Commission (NC)": _major(commission), "Markup (NC)": _major(markup),
                           "Scheme Fees (NC)": _major(scheme), "Interchange (NC)": _major(interchange),
                           "Payment Method Variant": "mcstandardcredit"}))
    refund = 4_250
    net_debit += refund
    rows.append(row(**{"Psp Reference": "8800000000000003", "Merchant Reference": "EU-2003", "Payment Method": "mc",
                       "Creation Date": (START + timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S"), "Type": "Refunded",
                       "Modification Reference": "7700000000009901", "Gross Debit (GC)": _major(refund),
                       "Net Debit (NC)": _major(refund)}))
    fee = 1_000
    net_debit += fee
    rows.append(row(**{"Creation Date": (START + timedelta(days=6)).strftime("%Y-%m-%d %H:%M:%S"), "Type": "Fee",
                       "Modification Reference": "Transaction Fees November 2026", "Net Debit (NC)": _major(fee)}))
    payout = net_credit - net_debit
    rows.append(row(**{"Creation Date": (START + timedelta(days=6, hours=2)).strftime("%Y-%m-%d %H:%M:%S"),
                       "Type": "MerchantPayout", "Modification Reference": f"Batch {ADYEN_BATCH} payout",
                       "Net Debit (NC)": _major(payout)}))
    summary.adyen_payout_minor = payout
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_ADYEN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write(folder / "adyen" / f"settlement_detail_report_batch_{ADYEN_BATCH}.csv", out.getvalue(), summary,
           "adyen", len(rows))


def _seller_payouts(rng: random.Random) -> list[dict]:
    orders = []
    for i, seller in enumerate(SELLERS, start=1):
        amount = rng.randrange(20_000, 90_000)
        orders.append({"id": f"po_seller_{i:03d}", "type": "ach", "direction": "credit", "amount": amount,
                       "currency": "USD", "status": "completed", "originating_account_id": US_PAYOUTS_ACCOUNT,
                       "receiving_account_id": seller_bank_account(seller), "effective_date": (START.date() + timedelta(days=6)).isoformat(),
                       "description": f"Seller payout {seller}", "reference_number": f"SP{i:06d}"})
    return orders


def _payment_orders(orders: list[dict], folder: Path, summary: ScenarioSummary) -> None:
    text = "".join(json.dumps(o, sort_keys=True) + "\n" for o in orders)
    summary.seller_payouts_minor = sum(o["amount"] for o in orders)
    _write(folder / "payment_orders" / "seller_payouts_2026-11-08.jsonl", text, summary, "payment_orders",
           len(orders))


def _bai2(orders: list[dict], folder: Path, summary: ScenarioSummary, opening: int) -> None:
    day = (START + timedelta(days=6)).date()
    stamp = day.strftime("%y%m%d")
    # the Stripe payout in (165: preauthorised ACH credit), each seller payout out (495: outgoing transfer)
    details = [("165", summary.stripe_payout_minor, f"STRIPE PAYOUT {STRIPE_PAYOUT_ID}"),
               *(("495", o["amount"], f"SELLER PAYOUT {o['reference_number']}") for o in orders)]
    credits = sum(a for code, a, _ in details if code < "400")
    debits = sum(a for code, a, _ in details if code >= "400")
    closing = opening + credits - debits
    n_credits = sum(1 for code, _, _ in details if code < "400")
    records = [f"03,{US_BANK_ACCOUNT},USD,010,{opening},,,015,{closing},,,100,{credits},{n_credits},,"
               f"400,{debits},{len(details) - n_credits},/"]
    for n, (code, amount, text) in enumerate(details, start=1):
        records.append(f"16,{code},{amount},Z,{stamp}{n:04d},,{text}")
    account_total = opening + closing + credits + debits + sum(a for _, a, _ in details)
    records.append(f"49,{account_total},{len(records) + 1}/")
    group = [f"02,NORTHWIND,{US_BANK_ROUTING},1,{stamp},2359,USD,2/", *records,
             f"98,{account_total},1,{len(records) + 2}/"]
    lines = [f"01,{US_BANK_ROUTING},NORTHWIND,{stamp},2359,1,80,1,2/", *group,
             f"99,{account_total},1,{len(group) + 2}/"]
    _write(folder / "bank" / f"us_operating_{day.isoformat()}.bai2", "\n".join(lines) + "\n", summary, "bank",
           len(details))


def _camt053(folder: Path, summary: ScenarioSummary, opening: int) -> None:
    day = (START + timedelta(days=6)).date()
    closing = opening + summary.adyen_payout_minor

    def bal(code: str, amount: int) -> str:
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{_major(amount)}</Amt>"
                f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")

    entry = (f"<Ntry><Amt Ccy=\"EUR\">{_major(summary.adyen_payout_minor)}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
             f"<Sts>BOOK</Sts><BookgDt><Dt>{day.isoformat()}</Dt></BookgDt><ValDt><Dt>{day.isoformat()}</Dt></ValDt>"
             f"<AcctSvcrRef>ADY{ADYEN_BATCH:08d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
             f"<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs>"
             f"<EndToEndId>ADYEN BATCH {ADYEN_BATCH}</EndToEndId></Refs><RmtInf><Ustrd>Adyen payout batch "
             f"{ADYEN_BATCH} NorthwindMarket_EU</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>"
           f"<GrpHdr><MsgId>NWM{day.strftime('%Y%m%d')}</MsgId><CreDtTm>{day.isoformat()}T23:00:00+00:00</CreDtTm></GrpHdr>"
           f"<Stmt><Id>NWM-EU-{day.isoformat()}</Id><CreDtTm>{day.isoformat()}T23:00:00+00:00</CreDtTm>"
           f"<Acct><Id><IBAN>{EU_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
           f"{bal('OPBD', opening)}{bal('CLBD', closing)}{entry}</Stmt></BkToCstmrStmt></Document>\n")
    _write(folder / "bank" / f"eu_operating_{day.isoformat()}.camt053.xml", xml, summary, "bank", 1)


def _events(rng: random.Random, orders: list[dict], folder: Path, summary: ScenarioSummary) -> None:
    events = []
    for i, order in enumerate(orders, start=1):
        created = START + timedelta(days=5, hours=i)
        events.append({"id": f"evt_wallet_{i:04d}", "type": "wallet.deposit", "currency": "USD",
                       "created_at": created.isoformat().replace("+00:00", "Z"),
                       "data": {"user_id": order["receiving_account_id"][3:], "amount": order["amount"],
                                "currency": "USD"}})
    events.append({"id": "evt_unknown_0001", "type": "seller.wallet_frozen", "currency": "USD",
                   "created_at": (START + timedelta(days=5, hours=9)).isoformat().replace("+00:00", "Z"),
                   "data": {"user_id": SELLERS[0], "amount": 100, "currency": "USD"}})
    summary.planted_bad_records.append("events evt_unknown_0001: event type seller.wallet_frozen")
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
    _write(folder / "events" / "marketplace_events_2026-11-07.jsonl", text, summary, "events", len(events))


def _erp_journal(rng: random.Random, folder: Path, summary: ScenarioSummary) -> None:
    day = (START + timedelta(days=6)).date().isoformat()
    lines = [
        ("erp:JE-1000", "erp_operating_cash", "debit", _major(ERP_OPENING_CASH_MINOR)), ("erp:JE-1000", "erp_owner_equity", "credit", "50000.00"),
        ("erp:JE-1001", "erp_rent_expense", "debit", "4500.00"), ("erp:JE-1001", "erp_operating_cash", "credit", "4500.00"),
        ("erp:JE-1002", "erp_salaries_expense", "debit", "18250.00"), ("erp:JE-1002", "erp_operating_cash", "credit", "18250.00"),
        ("erp:JE-1003", "erp_software_expense", "debit", "129.99"), ("erp:JE-1003", "erp_operating_cash", "credit", "129.99"),
        # planted: a third decimal in USD (excess_precision) and an account the chart does not have
        ("erp:JE-1004", "erp_office_expense", "debit", "10.005"), ("erp:JE-1004", "erp_operating_cash", "credit", "10.005"),
        ("erp:JE-1005", "erp_travel_expens", "debit", "350.00"), ("erp:JE-1005", "erp_operating_cash", "credit", "350.00"),
    ]
    summary.planted_bad_records += ["erp erp:JE-1004: amount 10.005 USD (more decimals than USD has)",
                                    "erp erp:JE-1005: account erp_travel_expens does not exist"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["external_id", "account", "direction", "amount", "currency", "effective_at", "description", "source"])
    for external_id, account, direction, amount in lines:
        writer.writerow([external_id, account, direction, amount, "USD", f"{day}T18:00:00Z",
                         f"ERP journal {external_id[4:]}", "erp"])
    _write(folder / "entries" / f"erp_journal_{day}.csv", out.getvalue(), summary, "entries", len(lines))


ERP_OPENING_CASH_MINOR = 50_000_00

#: the ERP's chart of accounts as (name, normal balance, currency, category): the journal posts to these
#: (``erp_travel_expens`` is deliberately absent); the categories are the standard chart's
ERP_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("erp_operating_cash", "debit", "USD", "bank_accounts"), ("erp_rent_expense", "debit", "USD", "expenses"),
    ("erp_salaries_expense", "debit", "USD", "expenses"), ("erp_software_expense", "debit", "USD", "expenses"),
    ("erp_office_expense", "debit", "USD", "expenses"), ("erp_owner_equity", "credit", "USD", "equity"),
)


def generate_scenario(folder: Path, seed: int = DEFAULT_SEED) -> ScenarioSummary:
    """Write the scenario's files under ``folder/<source>/`` and say what was written."""
    rng = random.Random(seed)
    summary = ScenarioSummary(seed=seed)
    _stripe(rng, folder, summary)
    _adyen(rng, folder, summary)
    orders = _seller_payouts(rng)
    _payment_orders(orders, folder, summary)
    _bai2(orders, folder, summary, opening=0)
    _camt053(folder, summary, opening=0)
    _events(rng, orders, folder, summary)
    _erp_journal(rng, folder, summary)
    return summary


def scenario_day() -> date:
    return (START + timedelta(days=6)).date()
