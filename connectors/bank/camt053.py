"""ISO 20022 bank-to-customer statements: camt.053 (statement), also camt.052 (report) and camt.054
(notification), any version (the namespace is ignored; element names are stable across versions).

XML is parsed with defusedxml and DTDs are refused outright, so entity-expansion ("billion laughs") and
external-entity attacks fail with a ``ParseError`` before any expansion. Amounts are exact decimals scaled
by the currency's exponent; more precision than the currency allows is an error unless the extra digits
are zeros (``18.150 EUR`` is 1815 minor units); a signed ``Amt`` (``-18.15``), more than 18 digits,
``Infinity``/``NaN`` and exponents are refused, and a currency is 3 letters A-Z. Entry sign: ``CdtDbtInd``
CRDT +, DBIT -. A booking time written in UTC (``2014-01-04T23:00Z``) is dated by the statement's own day
(its offset), not the UTC day. Opening balance + entries = closing balance is checked where both balances
are given; a mismatch is a ``balance_mismatch`` warning (the statement is kept and flagged). Errors name the
line of the element.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import Element, TreeBuilder
from xml.etree.ElementTree import ParseError as XmlSyntaxError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from connectors.bank.model import (
    Statement,
    StatementAccount,
    StatementLine,
    StatementWarning,
    balance_warning,
    with_line_totals,
)
from connectors.common.errors import ParseError
from connectors.common.files import decimal_to_minor
from ledger_common.money import currency_exponent

_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)
_OPENING_AVAILABLE = ("OPAV",)
_CLOSING_AVAILABLE = ("CLAV",)
_STATEMENT_TAGS = ("Stmt", "Rpt", "Ntfctn")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _strip_namespaces(root: Element) -> Element:
    for el in root.iter():
        el.tag = _local(el.tag)
    return root


def _text(el: Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$")


def _offset_of(text: str | None) -> timedelta | None:
    """The UTC offset a date-time is written with (``+01:00``), None for ``Z`` or none given."""
    m = _DATE_TIME.match(text.strip()) if text else None
    if not m or not m.group(3) or m.group(3) == "Z":
        return None
    sign = -1 if m.group(3)[0] == "-" else 1
    digits = m.group(3)[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def _local_date(path: Path, where: str, text: str, offset: timedelta | None, day: date | None) -> date:
    """The statement-local date of ``Dt`` or ``DtTm``. A time written with an offset or ``Z`` is moved to
    the statement's own offset (the first offset its timestamps give); when the statement gives none but
    covers a single day, an instant within a day of it is dated by that day, else by its UTC date."""
    m = _DATE_TIME.match(text)
    zoned_date = re.match(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})$", text)
    if zoned_date:  # an xs:date with a zone is still that calendar date
        m = _DATE_TIME.match(zoned_date.group(1))
    if not m:
        raise ParseError(path, where, f"date {text!r} is not an ISO 8601 date or date-time")
    try:
        written = date.fromisoformat(m.group(1))
        if not m.group(3):
            return written  # a local date or local date-time: its own date
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(path, where, f"date {text!r} is not a calendar date") from None
    if offset is not None:
        return instant.astimezone(timezone(offset)).date()
    utc_day = instant.astimezone(UTC).date()
    if day is not None and abs((utc_day - day).days) <= 1 and m.group(3) == "Z":
        return day
    return utc_day


def _date_of(path: Path, where: str, el: Element | None, offset: timedelta | None = None,
             day: date | None = None) -> date | None:
    """``<X><Dt>2024-01-31</Dt></X>`` or ``<X><DtTm>2024-01-31T10:00:00+01:00</DtTm></X>``."""
    if el is None:
        return None
    text = _text(el, "Dt") or _text(el, "DtTm")
    if not text:
        return None
    return _local_date(path, where, text, offset, day)


def _line_of(raw: bytes, needle: bytes) -> int | None:
    pos = raw.find(needle)
    return None if pos < 0 else raw.count(b"\n", 0, pos) + 1


class _LineBuilder(TreeBuilder):
    """A tree builder that notes the line each element starts on (for errors that name the line)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: SafeET.DefusedXMLParser | None = None
        self.lines: dict[int, int] = {}

    def start(self, tag, attrs):  # type: ignore[no-untyped-def]
        el = super().start(tag, attrs)
        if self.parser is not None:
            self.lines[id(el)] = self.parser.parser.CurrentLineNumber
        return el


def _load(path: Path) -> tuple[Element, dict[int, int]]:
    raw = path.read_bytes()
    builder = _LineBuilder()
    try:
        parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                                         forbid_external=True)
        builder.parser = parser
        parser.feed(raw)
        root = parser.close()
    except DefusedXmlException as exc:
        line = _line_of(raw, b"<!DOCTYPE") or _line_of(raw, b"<!ENTITY")
        raise ParseError(path, line, f"refused: the XML declares a DTD or entities ({type(exc).__name__}); "
                                     "bank statements never need them and they enable entity-expansion "
                                     "attacks") from None
    except XmlSyntaxError as exc:
        line, column = exc.position
        raise ParseError(path, f"line {line}, column {column}", f"malformed XML: {exc}") from None
    return _strip_namespaces(root), builder.lines


_AMOUNT = re.compile(r"^\d+(?:\.\d+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _currency(path: Path, where: str, text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip()
    if not _CURRENCY.match(value):
        raise ParseError(path, where, f"currency {value!r} is not a 3-letter ISO 4217 code (A-Z)")
    return value


def _amount(path: Path, where: str, el: Element | None, default_currency: str | None) -> tuple[int, str]:
    """An ``Amt``: unsigned (``CdtDbtInd`` gives the sign), at most 18 digits, currency 3 letters A-Z."""
    if el is None or el.text is None:
        raise ParseError(path, where, "amount missing")
    currency = _currency(path, where, el.get("Ccy")) or default_currency
    if not currency:
        raise ParseError(path, where, "amount has no currency")
    text = el.text.strip()
    if text.startswith(("-", "+")) and _AMOUNT.match(text[1:]):
        raise ParseError(path, where, f"amount {text!r} is signed; an Amt is unsigned and CdtDbtInd gives "
                                      "the direction (the sign is never flipped or dropped)")
    if not _AMOUNT.match(text) or sum(c.isdigit() for c in text) > 18:
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        raise ParseError(path, where, f"amount {shown!r} is not a decimal amount of at most 18 digits")
    try:
        return decimal_to_minor(Decimal(text), currency_exponent(currency)), currency
    except ValueError as exc:
        raise ParseError(path, where, f"{exc} for {currency}") from None


def _signed(path: Path, where: str, container: Element, default_currency: str | None) -> tuple[int, str]:
    amount, currency = _amount(path, where, container.find("Amt"), default_currency)
    indicator = _text(container, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise ParseError(path, where, f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT")
    return (amount if indicator == "CRDT" else -amount), currency


def _type_code(entry: Element) -> str | None:
    code = entry.find("BkTxCd")
    if code is None:
        return None
    domain = _text(code, "Domn/Cd")
    if domain:
        parts = [domain, _text(code, "Domn/Fmly/Cd"), _text(code, "Domn/Fmly/SubFmlyCd")]
        return "/".join(p for p in parts if p)
    return _text(code, "Prtry/Cd")


def _entry_text(entry: Element) -> str | None:
    parts = [_text(entry, "AddtlNtryInf")]
    for tx in entry.findall("NtryDtls/TxDtls"):
        parts.extend(u.text.strip() for u in tx.findall("RmtInf/Ustrd") if u.text and u.text.strip())
        parts.append(_text(tx, "AddtlTxInf"))
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return " | ".join(seen) or None


def parse_camt(path: str | Path) -> Statement:
    path = Path(path)
    root, line_of = _load(path)
    statements = [el for el in root.iter() if el.tag in _STATEMENT_TAGS]
    if root.tag != "Document" or not statements:
        raise ParseError(path, None, "not an ISO 20022 camt.052/053/054 document (no Stmt/Rpt/Ntfctn element)")

    def at(el: Element, what: str) -> str:
        line = line_of.get(id(el))
        return f"line {line} ({what})" if line else what

    header_times = [_text(root, "*/GrpHdr/CreDtTm")]
    accounts: list[StatementAccount] = []
    lines: list[StatementLine] = []
    warnings: list[StatementWarning] = []
    for s_index, stmt in enumerate(statements, start=1):
        stmt_name = f"statement {s_index} ({_text(stmt, 'Id') or 'no Id'})"
        where_stmt = at(stmt, stmt_name)
        account_id = (_text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
                      or _text(stmt, "Acct/Id/PrtryAcct/Id"))
        if not account_id:
            raise ParseError(path, where_stmt, "account identification (Acct/Id) missing")
        currency = _currency(path, where_stmt, _text(stmt, "Acct/Ccy"))
        times = [_text(stmt, "CreDtTm"), _text(stmt, "FrToDt/FrDtTm"), _text(stmt, "FrToDt/ToDtTm"), *header_times]
        offset = next((o for o in map(_offset_of, times) if o is not None), None)
        balance_days = {(_text(b, "Dt/Dt") or "")[:10] for b in stmt.findall("Bal")} - {""}
        period = {(t or "")[:10] for t in (_text(stmt, "FrToDt/FrDtTm"), _text(stmt, "FrToDt/ToDtTm"))} - {""}
        single_day = next(iter(period), None) if len(period) == 1 else (
            next(iter(balance_days), None) if len(balance_days) == 1 and not period else None)
        day = date.fromisoformat(single_day) if single_day and re.match(r"^\d{4}-\d{2}-\d{2}$", single_day) \
            else None
        balances: dict[str, tuple[int, date | None]] = {}
        for b_index, bal in enumerate(stmt.findall("Bal"), start=1):
            where = at(bal, f"{stmt_name}, balance {b_index}")
            code = _text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/CdOrPrtry/Prtry")
            amount, bal_currency = _signed(path, where, bal, currency)
            currency = currency or bal_currency
            for kind, codes in (("opening_balance", _OPENING), ("closing_balance", _CLOSING),
                                ("opening_available", _OPENING_AVAILABLE), ("closing_available", _CLOSING_AVAILABLE)):
                if code in codes and kind not in balances:
                    balances[kind] = (amount, _date_of(path, where, bal.find("Dt"), offset, day))
        stmt_lines: list[StatementLine] = []
        # Notifications and reports may leave out entry dates: they then take the message's own date.
        fallback_date = (_to_date(_text(stmt, "FrToDt/ToDtTm")) or _to_date(_text(stmt, "CreDtTm"))
                         or _to_date(_text(root, "*/GrpHdr/CreDtTm")))
        for e_index, entry in enumerate(stmt.findall("Ntry"), start=1):
            where = at(entry, f"{stmt_name}, entry {e_index}")
            amount, entry_currency = _signed(path, where, entry, currency)
            currency = currency or entry_currency
            booking = (_date_of(path, where, entry.find("BookgDt"), offset, day)
                       or _date_of(path, where, entry.find("ValDt"), offset, day) or fallback_date)
            if booking is None:
                raise ParseError(path, where, "entry has no booking date, no value date and the message no date")
            customer_ref = (_text(entry, "NtryDtls/TxDtls/Refs/EndToEndId")
                            or _text(entry, "NtryDtls/TxDtls/Refs/InstrId") or _text(entry, "NtryRef"))
            if customer_ref == "NOTPROVIDED":
                customer_ref = _text(entry, "NtryRef")
            stmt_lines.append(StatementLine(
                account_id=account_id, currency=entry_currency, date=booking, amount_minor=amount,
                type_code=_type_code(entry),
                bank_reference=_text(entry, "AcctSvcrRef") or _text(entry, "NtryDtls/TxDtls/Refs/AcctSvcrRef"),
                customer_reference=customer_ref, text=_entry_text(entry),
                value_date=_date_of(path, where, entry.find("ValDt"), offset, day), line_ref=f"{path}, {where}"))
        stmt_date = (balances.get("closing_balance", (None, None))[1]
                     or _to_date(_text(stmt, "FrToDt/ToDtTm"))
                     or _to_date(_text(stmt, "CreDtTm"))
                     or max((x.date for x in stmt_lines), default=None))
        if stmt_date is None:
            raise ParseError(path, where_stmt, "no statement date (no closing balance, period or creation time)")
        account = with_line_totals(StatementAccount(
            account_id=account_id, currency=(currency or "").upper(), date=stmt_date,
            name=_text(stmt, "Acct/Nm"), bank_id=_text(stmt, "Acct/Svcr/FinInstnId/BIC")
            or _text(stmt, "Acct/Svcr/FinInstnId/BICFI"), statement_id=_text(stmt, "Id"),
            **{k: v[0] for k, v in balances.items()}), stmt_lines)
        accounts.append(account)
        warning = balance_warning(str(path), account, where_stmt)
        if warning is not None:
            warnings.append(warning)
        lines.extend(stmt_lines)
    kind = {"Stmt": "camt053", "Rpt": "camt052", "Ntfctn": "camt054"}[statements[0].tag]
    return Statement(format=kind, path=str(path), accounts=accounts, lines=lines, warnings=warnings)


def _to_date(text: str | None) -> date | None:
    if not text or not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None
