"""The registry of sources: what the ``ingest`` and ``parse`` commands and the Dagster assets can read.

Adding a source is one ``SourceSpec`` entry in ``_SPECS``. Callables are named by dotted path
(``"package.module:function"``) and imported only when used, so the registry stays cheap to import and a
broken connector cannot break the others.

Contracts of the named callables:

* ``file_parser(path: Path, **options) -> list[RawRecord] | ExtractResult | pyarrow.Table`` — reads one
  exported file and works out which stream it belongs to (a table must have the columns of
  ``connectors.common.records.RECORD_SCHEMA``; that is the fast path for very large files).
* ``api_streams[stream](client: HttpClient, cursor: str | None) -> ExtractResult`` — one stream,
  incrementally from ``cursor``; returns the records and the new cursor.
* ``client_factory(base_url: str | None) -> HttpClient`` — builds the client with credentials taken from
  the environment at call time (never at import time, never logged).
* ``mapping`` — the YAML file in ``ledger_pipeline/ingest/mappings/`` that maps the source's records to
  ledger transactions; ``None`` means the records are landed only (e.g. bank statements, which are
  reconciled against the ledger rather than posted to it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def resolve(dotted: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"``."""
    module_name, _, attribute = dotted.partition(":")
    if not attribute:
        raise ValueError(f"expected 'module:attribute', got {dotted!r}")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    mapping: str | None = None
    file_parser: str | None = None
    api_streams: Mapping[str, str] = field(default_factory=dict)
    client_factory: str | None = None
    #: free text shown by ``--help``: which files the parser accepts
    file_kinds: str = ""

    def parse_file_fn(self) -> Callable[..., Any]:
        if not self.file_parser:
            raise ValueError(f"source {self.name} has no file parser")
        return resolve(self.file_parser)

    def stream_fn(self, stream: str) -> Callable[..., Any]:
        try:
            return resolve(self.api_streams[stream])
        except KeyError:
            raise ValueError(f"source {self.name} has no API stream {stream!r}; "
                             f"streams: {', '.join(self.api_streams) or 'none'}") from None

    def client_fn(self) -> Callable[..., Any]:
        if not self.client_factory:
            raise ValueError(f"source {self.name} has no API client")
        return resolve(self.client_factory)


_STRIPE_STREAMS = ("balance_transactions", "charges", "refunds", "payouts", "disputes", "transfers",
                   "application_fees")

_SPECS: tuple[SourceSpec, ...] = (
    SourceSpec(
        name="stripe",
        description="Stripe: API list endpoints and Balance / Itemized payout reconciliation report CSVs",
        mapping="stripe.yaml",
        file_parser="connectors.stripe:parse_file",
        api_streams={s: f"connectors.stripe:extract_{s}" for s in _STRIPE_STREAMS},
        client_factory="connectors.stripe:make_client",
        file_kinds="API list pages / objects as JSON or JSON lines; balance and itemized payout "
                   "reconciliation report CSVs",
    ),
    SourceSpec(
        name="adyen",
        description="Adyen: Settlement Details Report and Payments Accounting Report CSVs, webhook notifications",
        mapping="adyen.yaml",
        file_parser="connectors.adyen:parse_file",
        file_kinds="settlement_detail_report_batch_N.csv; payments_accounting_report_*.csv (landed); "
                   "notification webhook JSON",
    ),
    SourceSpec(
        name="bank",
        description="Bank statements: BAI2, camt.053, OFX/QFX, CSV (landed for reconciliation, not posted)",
        mapping=None,
        file_parser="connectors.bank:parse_file",
        file_kinds="BAI2, camt.053 XML, OFX/QFX (SGML v1, XML v2), CSV with a column mapping",
    ),
    SourceSpec(
        name="events",
        description="Production events: JSON lines or saved webhook deliveries, mapped by rules",
        mapping="events.yaml",
        file_parser="connectors.events:parse_file",
        file_kinds="JSON lines (.jsonl/.ndjson), a JSON array, or one delivery per .json file",
    ),
    SourceSpec(
        name="payment_orders",
        description="Payment orders between internal and external accounts (ledgered by reconciliation)",
        mapping=None,
        file_parser="connectors.payment_orders:parse_file",
        file_kinds="JSON (array or lines) or CSV of payment orders",
    ),
    SourceSpec(
        name="quickbooks",
        description="QuickBooks Online: journal entries, payments, invoices, deposits, transfers, bill payments "
                    "(query endpoint + change data capture for deletions and voids)",
        mapping="quickbooks.yaml",
        file_parser="connectors.quickbooks:parse_file",
        api_streams={s: f"connectors.quickbooks:extract_{s}" for s in (
            "journal_entries", "payments", "invoices", "deposits", "transfers", "bill_payments", "sales_receipts")},
        client_factory="connectors.quickbooks:make_client",
        file_kinds="recorded query or change-data-capture responses (JSON)",
    ),
    SourceSpec(
        name="netsuite",
        description="NetSuite: posted transactions and their accounting lines via SuiteQL, deletions",
        mapping="netsuite.yaml",
        api_streams={"transactions": "connectors.netsuite:extract_transactions"},
        client_factory="connectors.netsuite:make_client",
    ),
    SourceSpec(
        name="workday",
        description="Workday Financial Management: journal entries and settlement activity (REST)",
        mapping="workday.yaml",
        api_streams={"journal_entries": "connectors.workday:extract_journal_entries",
                     "settlement_runs": "connectors.workday:extract_settlement_runs"},
        client_factory="connectors.workday:make_client",
    ),
    SourceSpec(
        name="lithic",
        description="Lithic: card transactions and events (holds), ACH payments, book transfers, balances",
        mapping="lithic.yaml",
        file_parser="connectors.lithic:parse_file",
        api_streams={s: f"connectors.lithic:extract_{s}" for s in (
            "card_transactions", "payments", "book_transfers", "balances")},
        client_factory="connectors.lithic:make_client",
        file_kinds="webhook deliveries or list responses (JSON)",
    ),
    SourceSpec(
        name="marqeta",
        description="Marqeta: card transactions (authorization, incremental, reversal, clearing, refund, "
                    "chargeback) from the API and webhooks",
        mapping="marqeta.yaml",
        file_parser="connectors.marqeta:parse_file",
        api_streams={"transactions": "connectors.marqeta:extract_transactions"},
        client_factory="connectors.marqeta:make_client",
        file_kinds="transactions webhook deliveries or list responses (JSON)",
    ),
    SourceSpec(
        name="peach",
        description="Peach: loan payments and credits, disbursements (draws), fees",
        mapping="peach.yaml",
        api_streams={"transactions": "connectors.peach:extract_transactions",
                     "fees": "connectors.peach:extract_fees"},
        client_factory="connectors.peach:make_client",
    ),
    SourceSpec(
        name="loanpro",
        description="LoanPro: loan transactions (payments, charges, fees, disbursements) via OData",
        mapping="loanpro.yaml",
        file_parser="connectors.loanpro:parse_file",
        api_streams={"loan_transactions": "connectors.loanpro:extract_loan_transactions"},
        client_factory="connectors.loanpro:make_client",
        file_kinds="OData LoanTransactions responses (JSON)",
    ),
    SourceSpec(
        name="chargebee",
        description="Chargebee: invoices, transactions, credit notes from the API and webhook events",
        mapping="chargebee.yaml",
        file_parser="connectors.chargebee:parse_file",
        api_streams={s: f"connectors.chargebee:extract_{s}" for s in ("invoices", "transactions", "credit_notes")},
        client_factory="connectors.chargebee:make_client",
        file_kinds="webhook events or list responses (JSON)",
    ),
)

SOURCES: Mapping[str, SourceSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def get_source(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
