"""Stripe: balance transactions, charges, refunds, payouts, disputes, transfers and application fees from
the API (list endpoints, ``starting_after`` pagination, ``created`` cursor with a lookback), and the
Balance / Itemized payout reconciliation report CSVs and saved API objects from files.

Ledgering uses balance transactions (the money movements of the Stripe balance: gross, fee, net per
reporting category); the other streams are landed for reconciliation and reference (see
ledger_pipeline/ingest/mappings/stripe.yaml).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.common.errors import ParseError
from connectors.common.files import iter_csv, json_lines, read_text
from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult, RawRecord
from connectors.common.streams import stream_extractor
from connectors.stripe import settings
from connectors.stripe.helpers import extract_stream, normalise, report_row


def make_client(base_url: str | None = None, api_key: str | None = None, **kwargs: Any) -> HttpClient:
    """A client for the Stripe API. The key comes from ``api_key`` or ``STRIPE_API_KEY`` at call time."""
    key = api_key or os.environ.get(settings.API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kwargs.setdefault("rate_limit_per_second", settings.RATE_LIMIT_PER_SECOND)
    return HttpClient(base_url or settings.API_BASE_URL, headers=headers, **kwargs)


def _stream(stream: str):
    def run(client: HttpClient, cursor: str | None) -> ExtractResult:
        return extract_stream(stream, client, cursor)

    return stream_extractor(stream, run, f"""Stripe ``{stream}`` created since ``cursor`` minus the lookback.

    Args:
        client: an ``HttpClient`` (see ``make_client``).
        cursor: the last ``created`` seen (Unix seconds as text), or ``None`` for everything.
    """)


extract_balance_transactions = _stream("balance_transactions")
extract_charges = _stream("charges")
extract_refunds = _stream("refunds")
extract_payouts = _stream("payouts")
extract_disputes = _stream("disputes")
extract_transfers = _stream("transfers")
extract_application_fees = _stream("application_fees")


def _objects_from_json(path: Path, text: str) -> list[tuple[str, dict]]:
    """(record_ref, object) from a list page, an array, a single object, or JSON lines."""
    stripped = text.strip()
    if not stripped:
        raise ParseError(path, 1, "empty file")
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError as first:
        if "\n" not in stripped:
            raise ParseError(path, first.lineno, f"malformed JSON: {first.msg}") from None
        return json_lines(path, text)
    if isinstance(doc, dict) and doc.get("object") == "list":
        doc = doc.get("data", [])
    if isinstance(doc, dict):
        return [(str(path), doc)]
    return [(f"{path}, record {i}", obj) for i, obj in enumerate(doc, start=1)]


def parse_file(path: Path, **options: Any) -> list[RawRecord] | pa.Table:
    """Read a Stripe export: report CSV (by its header) or API objects as JSON / JSON lines.

    Every balance transaction is checked: gross - fee = net (a row failing it is quarantined on import;
    ``verify=False`` posts it with the warning).

    Large JSON-lines files of balance transactions take the vectorised path (``fast.read_jsonl``)."""
    path = Path(path)
    verify = options.get("verify", True) is not False
    if path.suffix.lower() == ".csv":
        records = []
        stream = None
        for line, row in iter_csv(path, required=settings.REPORT_REQUIRED):
            if stream is None:
                if not any(c in row for c in settings.REPORT_TIME_COLUMNS):
                    raise ParseError(path, 1, "missing column created_utc (or created); header is "
                                              + ", ".join(row))
                stream = "payout_reconciliation_report" if "automatic_payout_id" in row else "balance_report"
            records.append(report_row(stream, row, f"{path}, line {line}", str(path), line, verify))
        return records
    if path.suffix.lower() in (".jsonl", ".ndjson") and path.stat().st_size > options.get("fast_threshold", 8 << 20):
        from connectors.stripe.fast import read_jsonl

        return read_jsonl(path)
    out = []
    for ref, obj in _objects_from_json(path, read_text(path)):
        if not isinstance(obj, dict):
            raise ParseError(path, ref, "expected a JSON object")
        stream = settings.OBJECT_TO_STREAM.get(obj.get("object", ""))
        if stream is None:
            raise ParseError(path, ref, f"object type {obj.get('object')!r} is not a Stripe stream this "
                                        f"connector reads ({', '.join(settings.STREAMS)})")
        out.append(normalise(stream, obj, record_ref=ref, verify=verify))
    return out
