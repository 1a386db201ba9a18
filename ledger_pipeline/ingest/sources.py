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


def _connector(name: str, description: str, streams: tuple[str, ...], file_kinds: str = "") -> SourceSpec:
    """A connector package ``connectors.<name>`` laid out the usual way: mapping ``<name>.yaml``, one
    ``extract_<stream>`` function a stream, ``make_client``, and ``parse_file`` when it reads files (when
    ``file_kinds`` says which)."""
    return SourceSpec(
        name=name,
        description=description,
        mapping=f"{name}.yaml",
        file_parser=f"connectors.{name}:parse_file" if file_kinds else None,
        api_streams={s: f"connectors.{name}:extract_{s}" for s in streams},
        client_factory=f"connectors.{name}:make_client",
        file_kinds=file_kinds,
    )


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
        description="Adyen: Settlement Details Reports (downloaded by batch, or files), Payments Accounting "
                    "Report CSVs, webhook notifications",
        mapping="adyen.yaml",
        file_parser="connectors.adyen:parse_file",
        api_streams={"settlement_details": "connectors.adyen:extract_settlement_details"},
        client_factory="connectors.adyen:make_client",
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
    _connector("quickbooks", "QuickBooks Online: journal entries, payments, invoices, deposits, transfers, bill "
               "payments (query endpoint + change data capture for deletions and voids)",
               ("journal_entries", "payments", "invoices", "deposits", "transfers", "bill_payments",
                "sales_receipts"),
               "recorded query or change-data-capture responses (JSON)"),
    _connector("netsuite", "NetSuite: posted transactions and their accounting lines via SuiteQL, deletions",
               ("transactions",)),
    _connector("workday", "Workday Financial Management: journal entries and settlement activity (REST)",
               ("journal_entries", "settlement_runs")),
    _connector("lithic", "Lithic: card transactions and events (holds), ACH payments, book transfers, balances",
               ("card_transactions", "payments", "book_transfers", "balances"),
               "webhook deliveries or list responses (JSON)"),
    _connector("marqeta", "Marqeta: card transactions (authorization, incremental, reversal, clearing, refund, "
               "chargeback) from the API and webhooks",
               ("transactions",), "transactions webhook deliveries or list responses (JSON)"),
    _connector("peach", "Peach: loan payments and credits, disbursements (draws), fees", ("transactions", "fees")),
    _connector("loanpro", "LoanPro: loan transactions (payments, charges, fees, disbursements) via OData",
               ("loan_transactions",), "OData LoanTransactions responses (JSON)"),
    _connector("chargebee", "Chargebee: invoices, transactions, credit notes from the API and webhook events",
               ("invoices", "transactions", "credit_notes"), "webhook events or list responses (JSON)"),
)

SOURCES: Mapping[str, SourceSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def get_source(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
