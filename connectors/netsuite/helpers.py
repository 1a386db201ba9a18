"""NetSuite SuiteQL paging and parsing: rows of accounting lines grouped into one record per transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import format_instant
from connectors.common.errors import ParseError
from connectors.common.paging import Paging
from connectors.common.records import RawRecord
from connectors.netsuite import settings


def suiteql_text(since: datetime | None) -> str:
    clause = "" if since is None else settings.SINCE_CLAUSE.format(since=_ns_timestamp(since))
    return settings.TRANSACTION_LINES_QUERY.format(since_clause=clause)


def deleted_text(since: datetime) -> str:
    return settings.DELETED_QUERY.format(since=_ns_timestamp(since))


def _ns_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_from_ns(value: str | None) -> str | None:
    """``2024-01-31T12:00:00`` (the account's time zone, taken as UTC) -> ISO-8601 UTC text."""
    if not value:
        return None
    text = str(value)
    if "T" not in text:
        text = f"{text}T00:00:00"
    return format_instant(datetime.fromisoformat(text).replace(tzinfo=UTC))


def _next_offset(body: dict, items: list, offset: int) -> int | None:
    if not body.get("hasMore") or not items:
        return None
    offset += len(items)
    if offset >= settings.MAX_OFFSET:
        raise ParseError(settings.SOURCE, f"suiteql offset {offset}",
                         "more than 100,000 rows changed in one window; shorten the window (cursor)")
    return offset


_PAGING = Paging(settings.SOURCE, "limit", "offset", lambda body: body["items"] if "items" in body else None,
                 _next_offset, start=0, where="suiteql offset {}", missing="response has no items")


def suiteql_pages(post: Callable[[str, dict], dict], query: str,
                  page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of a SuiteQL query: ``limit``/``offset`` until ``hasMore`` is false."""
    return _PAGING.pages(lambda params: post(query, params), {}, page_size)


def group_transactions(rows: Iterable[dict], currency: str = settings.DEFAULT_CURRENCY) -> list[RawRecord]:
    """Accounting-line rows to records, one per line; a transaction read twice (the overlap window, or
    twice in one run) keeps only its latest ``lastmodified`` version, each line once."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        tx_id = str(row.get("id"))
        modified = iso_from_ns(row.get("lastmodified"))
        current = grouped.get(tx_id)
        if current is None or (modified or "") > (current["modified"] or ""):
            current = grouped[tx_id] = {"modified": modified, "header": row, "lines": {}}
        elif (modified or "") < (current["modified"] or ""):
            continue
        current["lines"][str(row.get("line"))] = row
    records: list[RawRecord] = []
    for tx_id, g in grouped.items():
        records.extend(_records(tx_id, g["header"], list(g["lines"].values()), g["modified"], currency))
    return records


_HEADER = ("id", "tranid", "type", "trandate", "lastmodified", "voided", "memo")


def _records(tx_id: str, header: dict, rows: list[dict], modified: str | None, currency: str) -> list[RawRecord]:
    """One transaction's lines as ``journal_line`` records (``signed_amount``: + debit, - credit), each
    posted against a clearing account that nets to zero over the transaction; a voided transaction is one
    ``reversal`` record instead."""
    where = f"transaction {tx_id}"
    ns_type = str(header.get("type") or "")
    base = {"ns_type": ns_type, "tran_type": settings.TYPE_NAMES.get(ns_type, ns_type.lower() or "unknown"),
            "tran_id": header.get("tranid"), "transaction_id": tx_id, "currency": currency.upper(),
            "effective_at": iso_from_ns(header.get("trandate")), "updated_at": modified,
            "memo": header.get("memo"), "action": "post", "reason": None, "reverses_object_id": None}
    raw_header = {k: header.get(k) for k in _HEADER}
    if str(header.get("voided") or "F").upper() == "T":
        base.update(type="reversal", action="reverse", reason="voided", reverses_object_id=tx_id)
        return [RawRecord(settings.SOURCE, "transactions", f"{tx_id}:voided", modified, raw_header, base,
                          record_ref=f"{where} (voided)")]
    records = []
    total = 0
    for row in sorted(rows, key=lambda r: int(r.get("line") or 0)):
        line_where = f"{where} line {row.get('line')}"
        try:
            debit = minor_units(row.get("debit"), currency) or 0
            credit = minor_units(row.get("credit"), currency) or 0
        except ValueError as exc:
            raise ParseError(settings.SOURCE, line_where, str(exc)) from exc
        signed = debit - credit
        total += signed
        if not signed:
            continue
        records.append(RawRecord(
            settings.SOURCE, "transactions", f"{tx_id}:line:{row.get('line')}", modified,
            {"transaction": raw_header, "line": {k: row.get(k) for k in ("line", "account", "debit", "credit")}},
            {**base, "type": "journal_line", "line_id": str(row.get("line")), "account_id": str(row.get("account")),
             "signed_amount": signed}, record_ref=line_where))
    if total != 0:
        raise ParseError(settings.SOURCE, where, f"accounting lines do not balance (debits - credits = {total})")
    return records


def deleted_records(rows: Iterable[dict]) -> list[RawRecord]:
    """DeletedRecord rows to ``action = reverse`` records (their ledger transactions are then reversed)."""
    out = {}
    for row in rows:
        tx_id = str(row.get("id"))
        deleted = iso_from_ns(row.get("deleted"))
        fields = {"type": "reversal", "ns_type": row.get("type"), "action": "reverse", "reason": "deleted",
                  "reverses_object_id": tx_id, "updated_at": deleted}
        out[tx_id] = RawRecord(settings.SOURCE, "transactions", f"{tx_id}:deleted", deleted, dict(row), fields,
                               record_ref=f"deleted record {tx_id}")
    return list(out.values())
