"""ISO 20022 bank-to-customer statements: camt.053 (statement), also camt.052 (report) and camt.054
(notification), any version (the namespace is ignored; element names are stable across versions).

XML is parsed with defusedxml and DTDs are refused outright, so entity-expansion ("billion laughs") and
external-entity attacks fail with a ``ParseError`` before any expansion. Amounts are exact decimals scaled
by the currency's exponent; more precision than the currency allows is an error unless the extra digits
are zeros (``18.150 EUR`` is 1815 minor units). Entry sign: ``CdtDbtInd`` CRDT +, DBIT -.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from connectors.bank.model import Statement, StatementAccount, StatementLine, with_line_totals
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


def _date_of(el: Element | None) -> date | None:
    """``<X><Dt>2024-01-31</Dt></X>`` or ``<X><DtTm>2024-01-31T10:00:00</DtTm></X>``."""
    if el is None:
        return None
    text = _text(el, "Dt") or _text(el, "DtTm")
    if not text:
        return None
    return date.fromisoformat(text[:10])


def _line_of(raw: bytes, needle: bytes) -> int | None:
    pos = raw.find(needle)
    return None if pos < 0 else raw.count(b"\n", 0, pos) + 1


def _load(path: Path) -> Element:
    raw = path.read_bytes()
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        line = _line_of(raw, b"<!DOCTYPE") or _line_of(raw, b"<!ENTITY")
        raise ParseError(path, line, f"refused: the XML declares a DTD or entities ({type(exc).__name__}); "
                                     "bank statements never need them and they enable entity-expansion "
                                     "attacks") from None
    except XmlSyntaxError as exc:
        line, column = exc.position
        raise ParseError(path, f"line {line}, column {column}", f"malformed XML: {exc}") from None
    return _strip_namespaces(root)


def _amount(path: Path, where: str, el: Element | None, default_currency: str | None) -> tuple[int, str]:
    if el is None or el.text is None:
        raise ParseError(path, where, "amount missing")
    currency = (el.get("Ccy") or default_currency or "").upper()
    if not currency:
        raise ParseError(path, where, "amount has no currency")
    try:
        value = Decimal(el.text.strip())
    except InvalidOperation:
        raise ParseError(path, where, f"amount {el.text.strip()!r} is not a decimal number") from None
    try:
        return decimal_to_minor(value, currency_exponent(currency)), currency
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
    root = _load(path)
    statements = [el for el in root.iter() if el.tag in _STATEMENT_TAGS]
    if root.tag != "Document" or not statements:
        raise ParseError(path, None, "not an ISO 20022 camt.052/053/054 document (no Stmt/Rpt/Ntfctn element)")
    accounts: list[StatementAccount] = []
    lines: list[StatementLine] = []
    for s_index, stmt in enumerate(statements, start=1):
        where_stmt = f"statement {s_index} ({_text(stmt, 'Id') or 'no Id'})"
        account_id = (_text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
                      or _text(stmt, "Acct/Id/PrtryAcct/Id"))
        if not account_id:
            raise ParseError(path, where_stmt, "account identification (Acct/Id) missing")
        currency = _text(stmt, "Acct/Ccy")
        balances: dict[str, tuple[int, date | None]] = {}
        for b_index, bal in enumerate(stmt.findall("Bal"), start=1):
            code = _text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/CdOrPrtry/Prtry")
            amount, bal_currency = _signed(path, f"{where_stmt}, balance {b_index}", bal, currency)
            currency = currency or bal_currency
            for kind, codes in (("opening_balance", _OPENING), ("closing_balance", _CLOSING),
                                ("opening_available", _OPENING_AVAILABLE), ("closing_available", _CLOSING_AVAILABLE)):
                if code in codes and kind not in balances:
                    balances[kind] = (amount, _date_of(bal.find("Dt")))
        stmt_lines: list[StatementLine] = []
        # Notifications and reports may leave out entry dates: they then take the message's own date.
        fallback_date = (_to_date(_text(stmt, "FrToDt/ToDtTm")) or _to_date(_text(stmt, "CreDtTm"))
                         or _to_date(_text(root, "*/GrpHdr/CreDtTm")))
        for e_index, entry in enumerate(stmt.findall("Ntry"), start=1):
            where = f"{where_stmt}, entry {e_index}"
            amount, entry_currency = _signed(path, where, entry, currency)
            currency = currency or entry_currency
            booking = _date_of(entry.find("BookgDt")) or _date_of(entry.find("ValDt")) or fallback_date
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
                value_date=_date_of(entry.find("ValDt")), line_ref=f"{path}, {where}"))
        stmt_date = (balances.get("closing_balance", (None, None))[1]
                     or _to_date(_text(stmt, "FrToDt/ToDtTm"))
                     or _to_date(_text(stmt, "CreDtTm"))
                     or max((x.date for x in stmt_lines), default=None))
        if stmt_date is None:
            raise ParseError(path, where_stmt, "no statement date (no closing balance, period or creation time)")
        accounts.append(with_line_totals(StatementAccount(
            account_id=account_id, currency=(currency or "").upper(), date=stmt_date,
            name=_text(stmt, "Acct/Nm"), bank_id=_text(stmt, "Acct/Svcr/FinInstnId/BIC")
            or _text(stmt, "Acct/Svcr/FinInstnId/BICFI"), statement_id=_text(stmt, "Id"),
            **{k: v[0] for k, v in balances.items()}), stmt_lines))
        lines.extend(stmt_lines)
    kind = {"Stmt": "camt053", "Rpt": "camt052", "Ntfctn": "camt054"}[statements[0].tag]
    return Statement(format=kind, path=str(path), accounts=accounts, lines=lines)


def _to_date(text: str | None) -> date | None:
    if not text or not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    return date.fromisoformat(text[:10])
