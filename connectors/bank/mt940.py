"""SWIFT MT940 (customer statement) and MT942 (interim transaction report).

A file holds one or more messages, with or without the SWIFT envelope (``{1:...}{2:...}{4:`` ... ``-}``);
each message starts at ``:20:`` and gives one ``StatementAccount``. Fields: ``:25:`` account (kept as
written), ``:28C:`` statement number, ``:60F:``/``:60M:`` opening and ``:62F:``/``:62M:`` closing balance,
``:64:`` closing available, ``:61:`` statement line with its ``:86:`` information, and for MT942
``:13D:`` (report time), ``:34F:`` (floor limit) and ``:90D:``/``:90C:`` (number and sum of debits/credits).

Signs: ``C`` credit +, ``D`` debit -, ``RC`` (reversal of a credit) -, ``RD`` (reversal of a debit) +.
Amounts are exact (``1234,56``; ``100,`` is 100.00) in the currency's minor units; the line's booking date
is its entry date (``MMDD``, the year taken from the value date, across a year end when the two are
months apart) or else its value date. ``:86:`` is read as the structured fields Dutch banks write
(``/TRTP/.../NAME/.../REMI/.../EREF/...``; ABN AMRO, ING, Rabobank) or the German ``?20``-``?34``
subfields (``GVC?00Buchungstext?20Verwendungszweck...?32Name``), else kept as free text.

Controls: opening + lines = closing (``balance_mismatch`` warning) for MT940, and for MT942 the
``:90D:``/``:90C:`` counts and sums against the lines (``control_total_mismatch`` warning). A record
that cannot be read is a ``ParseError`` naming the file and line; no value is guessed (a line's
currency is its statement's, taken from the balances or the ``:90:`` fields, else an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.bank.model import (
    Statement,
    StatementAccount,
    StatementLine,
    StatementWarning,
    balance_warning,
    with_line_totals,
)
from connectors.common.errors import ParseError
from connectors.common.files import decimal_to_minor, read_text
from ledger_common.money import currency_exponent

# a field tag (:61:, :60F:) or a bank's own (Rabobank's :NS:), which then is no continuation of the field before
_TAG = re.compile(r"^:(\d{2}[A-Z]?|[A-Z]{2}):(.*)$")
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_LINE = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r"(?P<type>[A-Z][A-Z0-9]{3})(?P<custref>(?:(?!//).)*)(?://(?P<bankref>.*))?$")
_COUNT_SUM = re.compile(r"^(?P<count>\d{1,5})(?P<currency>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_AMOUNT = re.compile(r"^\d{1,15},\d*$")
# Dutch banks' structured :86: tags (ABN AMRO, ING, Rabobank, SNS/ASN, Triodos)
_DUTCH_TAGS = ("TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "MARF", "CSID", "ORDP", "BENM", "ID", "ADDR",
               "CNTP", "PREF", "RTRN", "ISDT", "PURP", "SVCL", "ULTC", "ULTD", "ULTB", "CDTRREFTP", "CDTRREF",
               "CD", "SCOR", "ISSR", "USTD", "STRD", "CREF", "RTYP", "CNTR", "NRTX", "BKREF")
_DUTCH = re.compile(r"/(" + "|".join(sorted(_DUTCH_TAGS, key=len, reverse=True)) + r")/")
_GERMAN = re.compile(r"\?(\d{2})")
_PURPOSE_SUBFIELDS = {f"{n:02d}" for n in [*range(20, 30), *range(60, 64)]}


@dataclass
class _Field:
    tag: str
    line: int
    value: str


@dataclass
class _Message:
    line: int
    fields: list[_Field] = field(default_factory=list)


def _messages(path: Path, text: str) -> list[_Message]:
    messages: list[_Message] = []
    current: _Message | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        physical = raw.rstrip()
        if physical.startswith("{"):
            # SWIFT envelope: {1:...}{2:...}{3:...}{4: and the text of block 4 after it, if any
            physical = physical[physical.find("{4:") + 3:] if "{4:" in physical else ""
        if physical in ("-", "-}") or physical.startswith("-}"):
            current = None
            continue
        if not physical.strip():
            continue
        m = _TAG.match(physical)
        if m:
            if m.group(1) == "20" or current is None and m.group(1) in ("25", "28C", "60F", "60M"):
                current = _Message(number)
                messages.append(current)
            if current is None:
                raise ParseError(path, number, f"field :{m.group(1)}: outside a message (no :20: before it)")
            current.fields.append(_Field(m.group(1), number, m.group(2)))
        elif current is not None and current.fields:
            current.fields[-1].value += "\n" + physical
        # lines before the first :20: are a bank's file header (ABN AMRO's "ABNANL2A/940"), no data
    return messages


def _yymmdd(path: Path, line: int, text: str) -> date:
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ParseError(path, line, f"date {text!r} is not a calendar date (YYMMDD)") from None


def _minor(path: Path, line: int, text: str, currency: str) -> int:
    if not _AMOUNT.match(text):
        raise ParseError(path, line, f"amount {text!r} is not a SWIFT amount (digits, one decimal comma)")
    try:
        return decimal_to_minor(Decimal(text.replace(",", ".").rstrip(".") or "0"), currency_exponent(currency))
    except ValueError as exc:
        raise ParseError(path, line, f"{exc} for {currency}") from None


def _balance(path: Path, f: _Field) -> tuple[int, date, str]:
    m = _BALANCE.match(f.value.strip())
    if not m:
        raise ParseError(path, f.line, f":{f.tag}: {f.value.strip()!r} is not a balance (C/D, YYMMDD, currency, "
                                       "amount)")
    amount = _minor(path, f.line, m.group("amount"), m.group("currency"))
    return (amount if m.group("mark") == "C" else -amount), _yymmdd(path, f.line, m.group("date")), \
        m.group("currency")


def _entry_date(value: date, mmdd: str, path: Path, line: int) -> date:
    month, day = int(mmdd[:2]), int(mmdd[2:])
    candidates = []
    for year in (value.year - 1, value.year, value.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ParseError(path, line, f"entry date {mmdd!r} is not a calendar date (MMDD)")
    return min(candidates, key=lambda d: abs((d - value).days))


def parse_86(text: str) -> dict[str, str]:
    """The fields of a ``:86:`` information text.

    Dutch structured (``/TRTP/SEPA OVERBOEKING/IBAN/NL..../NAME/ACME BV/REMI/INV 12/EREF/E2E-1``) gives its
    tags; German (``166?00SEPA-GUTSCHRIFT?20EREF+E2E-1?21SVWZ+Rechnung 12?32ACME GmbH``) gives ``GVC``,
    ``?NN`` subfields by number and the SEPA keys inside ``?20``-``?29`` (``EREF``, ``SVWZ``...). Anything
    else is ``{"text": ...}``. Wrapped lines are joined (SWIFT wraps at 65 characters).
    """
    joined = "".join(text.split("\n")).strip()
    if joined.startswith("/") and _DUTCH.match(joined):
        parts = _DUTCH.split(joined)
        out: dict[str, str] = {}
        for tag, value in zip(parts[1::2], parts[2::2], strict=True):
            value = value.strip()
            if tag not in ("CNTP", "ORDP", "BENM"):
                value = value.strip("/").strip()
            if value and tag not in out:
                out[tag] = value
            elif value:
                out[tag] = f"{out[tag]} {value}"
        return out
    german = re.match(r"^(\d{3})\?(\d{2})", joined)
    if german:
        out = {"GVC": german.group(1)}
        pieces = _GERMAN.split(joined[3:])
        for number, value in zip(pieces[1::2], pieces[2::2], strict=True):
            if value:
                out[number] = out.get(number, "") + value
        purpose_fields = [pieces[i + 1] for i in range(1, len(pieces) - 1, 2)
                          if pieces[i] in _PURPOSE_SUBFIELDS and pieces[i + 1]]
        key = None
        for value in purpose_fields:  # SEPA keys start a subfield: ?20EREF+...?21SVWZ+...
            m = re.match(r"^(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC)\+", value)
            if m:
                key, value = m.group(1), value[m.end():]
                out[key] = value
            elif key is not None:
                out[key] += value
        if purpose_fields:
            out["purpose"] = "".join(purpose_fields).strip()
        for k in [k for k in out if k.isalpha()]:
            out[k] = out[k].strip()
        return out
    return {"text": " ".join(line.strip() for line in text.split("\n") if line.strip())}


def _line_text(info: dict[str, str]) -> tuple[str | None, str | None]:
    """(text, customer reference) of a line from its ``:86:`` fields."""
    if "GVC" in info:
        name = " ".join(p for p in (info.get("32"), info.get("33")) if p)
        remit = info.get("SVWZ") or info.get("purpose") or info.get("00")
        ref = info.get("EREF")
    elif "text" in info:
        return info["text"] or None, None
    else:
        # ING writes the counterparty as /CNTP/IBAN/BIC/NAME/CITY and remittance as /REMI/USTD//text
        cntp = info.get("CNTP", "").split("/")
        name = info.get("NAME") or (cntp[2].strip() if len(cntp) > 2 else None)
        remit = info.get("REMI") or info.get("TRTP")
        if remit:
            remit = re.sub(r"^(?:USTD|STRD)/+", "", remit).strip("/ ")
        ref = info.get("EREF")
    if ref and ref.upper() == "NOTPROVIDED":
        ref = None
    return " | ".join(p for p in (name, remit) if p) or None, ref


def _statement_line(path: Path, account_id: str, currency: str, f: _Field, info: _Field | None) -> StatementLine:
    first = f.value.split("\n", 1)[0].strip()
    m = _LINE.match(first)
    if not m:
        raise ParseError(path, f.line, f":61: {first!r} is not a statement line (value date, [entry date], "
                                       "C/D/RC/RD, amount, type, reference)")
    value_date = _yymmdd(path, f.line, m.group("value"))
    booked = _entry_date(value_date, m.group("entry"), path, f.line) if m.group("entry") else value_date
    amount = _minor(path, f.line, m.group("amount"), currency)
    sign = -1 if m.group("mark") in ("D", "RC") else 1
    text, ref = _line_text(parse_86(info.value)) if info is not None else (None, None)
    extra = f.value.split("\n", 1)[1].strip() if "\n" in f.value else ""
    custref = m.group("custref").strip()
    if custref.upper() == "NONREF":
        custref = ""
    return StatementLine(
        account_id=account_id, currency=currency, date=booked, amount_minor=sign * amount,
        type_code=m.group("type"), bank_reference=(m.group("bankref") or "").strip() or None,
        customer_reference=ref or custref or None, text=text or extra or None, value_date=value_date,
        line_ref=f"{path}, line {f.line}")


def parse_mt940(path: str | Path, *, encoding: str | None = None) -> Statement:
    """Parse an MT940 or MT942 file (one account per message). ``encoding`` defaults to UTF-8, and
    cp1252 when the bytes are not UTF-8 (German banks' umlauts)."""
    path = Path(path)
    if encoding:
        text = read_text(path, encoding)
    else:
        try:
            text = read_text(path, "utf-8")
        except ParseError:
            text = read_text(path, "cp1252")
    messages = _messages(path, text)
    if not messages:
        raise ParseError(path, 1, "no MT940/MT942 message (no :20: field)")
    accounts: list[StatementAccount] = []
    lines: list[StatementLine] = []
    warnings: list[StatementWarning] = []
    kinds: set[str] = set()
    for msg in messages:
        tags = {f.tag for f in msg.fields}
        kind = "mt942" if not tags & {"60F", "60M", "62F", "62M"} and tags & {"13D", "34F", "90D", "90C"} \
            else "mt940"
        kinds.add(kind)
        account_id = next((f.value.strip() for f in msg.fields if f.tag == "25"), "")
        if not account_id:
            raise ParseError(path, msg.line, "message without a :25: account identification")
        statement_no = next((f.value.strip() for f in msg.fields if f.tag in ("28C", "28")), None)
        currency: str | None = None
        balances: dict[str, int] = {}
        dates: dict[str, date] = {}
        counts: dict[str, tuple[int, int, int]] = {}  # D/C -> (count, sum, line)
        report_date: date | None = None
        for f in msg.fields:
            if f.tag in ("60F", "60M", "62F", "62M", "64"):
                amount, day, ccy = _balance(path, f)
                if currency and ccy != currency:
                    raise ParseError(path, f.line, f":{f.tag}: currency {ccy} differs from the statement's "
                                                   f"{currency}")
                currency = ccy
                kind_of = {"60": "opening_balance", "62": "closing_balance", "64": "closing_available"}[f.tag[:2]]
                balances[kind_of] = amount
                dates[kind_of] = day
            elif f.tag in ("90D", "90C"):
                m = _COUNT_SUM.match(f.value.strip())
                if not m:
                    raise ParseError(path, f.line, f":{f.tag}: {f.value.strip()!r} is not a count, currency and "
                                                   "amount")
                currency = currency or m.group("currency")
                counts[f.tag[2]] = (int(m.group("count")), _minor(path, f.line, m.group("amount"),
                                                                  m.group("currency")), f.line)
            elif f.tag == "34F" and currency is None:
                ccy = f.value.strip()[:3]
                currency = ccy if re.fullmatch(r"[A-Z]{3}", ccy) else None
            elif f.tag == "13D":
                m = re.match(r"^(\d{6})\d{4}", f.value.strip())
                if not m:
                    raise ParseError(path, f.line, f":13D: {f.value.strip()!r} is not YYMMDDhhmm+zone")
                report_date = _yymmdd(path, f.line, m.group(1))
        if currency is None:
            raise ParseError(path, msg.line, "message gives no currency (no :60:/:62: balance, :34F: or :90:)")
        pairs: list[tuple[_Field, _Field | None]] = []  # each :61: with the :86: right after it
        previous: _Field | None = None
        for f in msg.fields:
            if f.tag == "61":
                pairs.append((f, None))
            elif f.tag == "86" and previous is not None and previous.tag == "61":
                pairs[-1] = (previous, f)
            previous = f
        stmt_lines = [_statement_line(path, account_id, currency, f61, f86) for f61, f86 in pairs]
        stmt_date = dates.get("closing_balance") or report_date or max((x.date for x in stmt_lines), default=None)
        if stmt_date is None:
            raise ParseError(path, msg.line, "message has no date (no closing balance, :13D: or lines)")
        account = with_line_totals(StatementAccount(
            account_id=account_id, currency=currency, date=stmt_date, statement_id=statement_no,
            **balances), stmt_lines)
        accounts.append(account)
        lines.extend(stmt_lines)
        warning = balance_warning(str(path), account, f"line {msg.line}")
        if warning is not None:
            warnings.append(warning)
        for mark, (count, total, line) in counts.items():
            got = (account.debits_count, account.debits_total) if mark == "D" else \
                (account.credits_count, account.credits_total)
            if got != (count, total):
                warnings.append(StatementWarning(
                    "control_total_mismatch",
                    f"{path}, line {line}: :90{mark}: says {count} {'debits' if mark == 'D' else 'credits'} "
                    f"of {total}, the lines give {got[0]} of {got[1]}", account_id, stmt_date, f"line {line}"))
    return Statement(format="mt942" if kinds == {"mt942"} else "mt940", path=str(path), accounts=accounts,
                     lines=lines, warnings=warnings)
