"""Workday paging and parsing: journal entries to journal lines, settlement runs to settlements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import format_instant, parse_instant
from connectors.common.errors import ParseError
from connectors.common.paging import Paging, data_items
from connectors.common.records import RawRecord
from connectors.workday import settings


def _next_offset(body: dict, items: list, offset: int) -> int | None:
    offset += len(items)
    return None if not items or offset >= int(body.get("total") or 0) else offset


_PAGING = Paging(settings.SOURCE, "limit", "offset", data_items, _next_offset, start=0, where="page at offset {}")


def collection_pages(get: Callable[[dict], Any], params: dict,
                     page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of a Workday collection: ``offset`` advances until ``total`` items were read."""
    return _PAGING.pages(get, params, page_size)


def _text(ref: Any, key: str = "descriptor") -> str | None:
    if isinstance(ref, dict):
        return ref.get(key) or ref.get("id")
    return None if ref is None else str(ref)


def _currency(obj: dict, fallback: str = "USD") -> str:
    ref = obj.get("currency")
    if isinstance(ref, dict):
        return str(ref.get("code") or ref.get("descriptor") or fallback).upper()
    return str(ref or fallback).upper()


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    text = str(value)
    return format_instant(parse_instant(text if "T" in text else f"{text}T00:00:00+00:00"))


def _status(obj: dict) -> str:
    return str(_text(obj.get("status")) or obj.get("journalStatus") or "").lower()


def journal_records(journal: dict) -> list[RawRecord]:
    """A journal entry: one ``journal_line`` record per line (``signed_amount`` + debit / - credit, posted
    against a clearing account that nets to zero over the journal) once it is Posted; a Reversed or
    Canceled journal is one ``reversal`` record; Draft / Submitted / Approved ones are landed only."""
    jid = journal.get("id")
    where = f"journal {jid}"
    if not jid:
        raise ParseError(settings.SOURCE, where, "journal without id")
    status = _status(journal)
    updated = _iso(journal.get(settings.CURSOR_FIELD))
    currency = _currency(journal)
    base = {"journal_id": str(jid), "journal_number": journal.get("journalNumber") or journal.get("descriptor"),
            "company": _text(journal.get("company")), "journal_source": _text(journal.get("journalSource")),
            "workday_status": status, "currency": currency, "updated_at": updated,
            "effective_at": _iso(journal.get("accountingDate") or journal.get("journalDate")
                                 or journal.get("postingDate")),
            "action": "post", "reason": None, "reverses_object_id": None}
    if status in settings.UNDONE_STATUSES:
        base.update(type="reversal", action="reverse", reason=status, reverses_object_id=str(jid))
        return [RawRecord(settings.SOURCE, "journal_entries", f"{jid}:{status}", updated, journal, base,
                          record_ref=f"{where} ({status})")]
    if status not in settings.POSTED_STATUSES:
        return [RawRecord(settings.SOURCE, "journal_entries", f"{jid}:{status or 'unposted'}", updated, journal,
                          {**base, "type": "journal_unposted"}, record_ref=where)]
    lines = journal.get("journalEntryLines") or journal.get("lines") or []
    records, total = [], 0
    for n, line in enumerate(lines, start=1):
        order = line.get("lineOrder") or n
        line_currency = _currency(line, currency)
        try:
            debit = minor_units(line.get("debitAmount"), line_currency) or 0
            credit = minor_units(line.get("creditAmount"), line_currency) or 0
        except ValueError as exc:
            raise ParseError(settings.SOURCE, f"{where} line {order}", str(exc)) from exc
        signed = debit - credit
        total += signed
        if not signed:
            continue
        account = line.get("ledgerAccount") or line.get("account") or {}
        records.append(RawRecord(
            settings.SOURCE, "journal_entries", f"{jid}:line:{order}", updated,
            {"journal": {k: v for k, v in journal.items() if k not in ("journalEntryLines", "lines")}, "line": line},
            {**base, "type": "journal_line", "currency": line_currency, "line_id": str(order),
             "account_id": str(account.get("id") or ""), "account_name": account.get("descriptor"),
             "signed_amount": signed, "memo": line.get("memo")},
            record_ref=f"{where} line {order}"))
    if total != 0:
        raise ParseError(settings.SOURCE, where, f"journal lines do not balance (debits - credits = {total})")
    return records


def settlement_record(run: dict) -> RawRecord:
    """A settlement run paid from a bank account: accounts payable settled, bank account credited. Runs
    not yet complete are landed only; canceled ones reverse."""
    rid = run.get("id")
    where = f"settlement run {rid}"
    status = _status(run)
    updated = _iso(run.get(settings.CURSOR_FIELD))
    currency = _currency(run)
    try:
        amount = minor_units(run.get("totalAmount"), currency)
    except ValueError as exc:
        raise ParseError(settings.SOURCE, where, str(exc)) from exc
    bank = run.get("settlementBankAccount") or {}
    fields = {"type": "settlement" if status in settings.SETTLED_STATUSES else "settlement_pending",
              "settlement_run_id": str(rid), "settlement_run_number": run.get("settlementRunNumber"),
              "bank_account_id": str(bank.get("id") or ""), "bank_account_name": bank.get("descriptor"),
              "company": _text(run.get("company")), "workday_status": status, "amount": amount,
              "currency": currency, "effective_at": _iso(run.get("paymentDate")), "updated_at": updated,
              "action": "post", "reason": None, "reverses_object_id": None}
    if status in settings.UNDONE_STATUSES:
        fields.update(type="reversal", action="reverse", reason=status, reverses_object_id=str(rid))
        return RawRecord(settings.SOURCE, "settlement_runs", f"{rid}:{status}", updated, run, fields,
                         record_ref=f"{where} ({status})")
    return RawRecord(settings.SOURCE, "settlement_runs", str(rid), updated, run, fields, record_ref=where)
