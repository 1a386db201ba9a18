"""BAI2 (Cash Management Balance Reporting Specification, version 2).

Records (01 file, 02 group, 03 account, 16 detail, 88 continuation, 49/98/99 trailers) are read as
logical records: a physical line that does not start with a record code continues the previous record,
and several ``/``-terminated records on one physical line are split. An 88 after a 03 continues its
summary fields; an 88 after a 16 continues its text. Every trailer is checked: control totals (the sum of
the 03 summary amounts and 16 amounts below it) and record counts; a mismatch is a ``ParseError`` naming
the line, unless ``verify=False``, which keeps the file and reports each mismatch as a named warning
(``control_total_mismatch``, ``record_count_mismatch``) in ``Statement.warnings``.

Amounts are integers in the currency's minor units, as BAI2 writes them (no decimal point). Detail
amounts are unsigned (a signed 16 amount is refused, never flipped); the type code says credit or debit (``bai2_type_codes``; 100-399 credit, 400-699
debit otherwise). Balances: 010 opening ledger, 015 closing ledger, 040 opening available, 045 closing
available; the group currency applies when the account record has none (default USD).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors.bank.bai2_type_codes import TYPE_CODES
from connectors.bank.model import (
    Statement,
    StatementAccount,
    StatementLine,
    StatementWarning,
    with_line_totals,
)
from connectors.common.errors import ParseError
from connectors.common.files import read_text

_CODES = ("01", "02", "03", "16", "49", "88", "98", "99")
_RECORD_START = re.compile(r"^(0[123]|16|49|88|98|99),")
_SPLIT = re.compile(r"(?<=/)\s+(?=(?:0[123]|16|49|88|98|99),)")
_AMOUNT = re.compile(r"^[+-]?\d+$")
BALANCE_CODES = {"010": "opening_balance", "015": "closing_balance", "040": "opening_available",
                 "045": "closing_available"}


@dataclass
class _Record:
    code: str
    line: int
    body: str  # without the code and the terminating "/"
    continuations: list[str] = field(default_factory=list)


def _logical_records(path: Path, text: str) -> list[_Record]:
    records: list[_Record] = []
    for number, physical in enumerate(text.splitlines(), start=1):
        if not physical.strip():
            continue
        for piece in _SPLIT.split(physical.strip()):
            if _RECORD_START.match(piece):
                records.append(_Record(piece[:2], number, piece[3:]))
            elif records:
                records[-1].body += " " + piece  # a record wrapped onto the next physical line
            else:
                raise ParseError(path, number, f"not a BAI2 record: {piece[:40]!r} (expected 01 file header)")
    out: list[_Record] = []
    for r in records:
        body = r.body.rstrip()
        if body.endswith("/"):
            body = body[:-1]
        r.body = body
        if r.code == "88":
            if not out:
                raise ParseError(path, r.line, "88 continuation record with nothing to continue")
            out[-1].continuations.append(body)
        else:
            out.append(r)
    return out


def _amount(path: Path, line: int, text: str, what: str) -> int:
    text = text.strip()
    if text == "":
        return 0
    if not _AMOUNT.match(text):
        raise ParseError(path, line, f"{what} {text!r} is not an integer amount")
    return int(text)


def _date(path: Path, line: int, text: str) -> date:
    text = text.strip()
    if not re.match(r"^\d{6}$", text):
        raise ParseError(path, line, f"date {text!r} is not YYMMDD")
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ParseError(path, line, f"date {text!r} is not a calendar date") from None


def _funds_extra(path: Path, line: int, fields: list[str], i: int) -> int:
    """Skip the availability fields of a funds type starting at ``fields[i]``; returns the next index."""
    funds = fields[i].strip().upper() if i < len(fields) else ""
    i += 1
    if funds == "S":
        return i + 3
    if funds == "V":
        return i + 2
    if funds == "D":
        n = fields[i].strip() if i < len(fields) else ""
        if not n.isdigit():
            raise ParseError(path, line, f"funds type D needs a count of distributions, got {n!r}")
        return i + 1 + 2 * int(n)
    if funds in ("", "0", "1", "2", "Z"):
        return i
    raise ParseError(path, line, f"unknown funds type {funds!r}")


def _summary_groups(path: Path, line: int, records: list[list[str]]) -> list[tuple[str, str]]:
    """The (type code, amount) of each summary group of a 03 record and its 88 continuations.

    A group is type code, amount, item count, funds type (and the funds type's availability fields); a
    group may run on into the next 88 (``...,190/`` then ``88,500000,,,110,...``). Empty fields left before
    a record's ``/`` are padding, not a group: ``03,acct,USD,,,/`` then ``88,100,490196,1,,400,000,0,/``
    is a 100 and a 400 group, as SVB writes them.
    """
    groups: list[tuple[str, str]] = []
    carry: list[str] = []
    for n, fields in enumerate(records):
        fields = carry + fields
        carry = []
        last = n == len(records) - 1
        i = 0
        while i < len(fields):
            group = fields[i:i + 4]
            if all(not f.strip() for f in fields[i:]):
                break  # padding before the "/"
            type_code, amount_text = group[0].strip(), (group[1] if len(group) > 1 else "")
            if not type_code:
                if amount_text.strip():
                    raise ParseError(path, line, f"summary amount {amount_text.strip()!r} without a type code")
                i += 4
                continue
            if not type_code.isdigit():
                raise ParseError(path, line, f"summary type code {type_code!r} is not a number")
            try:
                nxt = _funds_extra(path, line, fields, i + 3) if len(group) == 4 else i + 4
            except ParseError:
                if last:
                    raise
                nxt = len(fields) + 1  # a D funds type whose count is in the next 88
            if nxt > len(fields) and not last:
                carry = fields[i:]  # the group continues in the next 88
                break
            groups.append((type_code, amount_text))
            i = nxt
    if carry:
        raise ParseError(path, line, "summary availability fields cut off at the end of the 03 record")
    return groups


def _trailer(path: Path, line: int, fields: list[str], check: Callable[..., None], level: str, child: str,
             summed: int, children: int, records: int) -> int:
    """Check a 98 (group) or 99 (file) trailer's control total, count of children and record count against
    what was read; the trailer's control total."""
    total = _amount(path, line, fields[0], f"{level} control total")
    n_children = _amount(path, line, fields[1] if len(fields) > 1 else "", f"{child} count")
    count = _amount(path, line, fields[2] if len(fields) > 2 else "", "record count")
    check(total == summed, line,
          f"{level} control total {total} does not equal the sum of its {child}s {summed} (bad checksum)")
    check(n_children == children, line, f"{level} says {n_children} {child}s, found {children}",
          "record_count_mismatch")
    check(count == records, line, f"{level} record count {count} does not equal the {records} records found",
          "record_count_mismatch")
    return total


def direction_of(code: int) -> int:
    """+1 for a credit type code, -1 for a debit, 0 for status/non-monetary codes."""
    kind = TYPE_CODES.get(code, (None,))[0]
    if kind == "credit" or (kind is None and 100 <= code <= 399):
        return 1
    if kind == "debit" or (kind is None and 400 <= code <= 699):
        return -1
    return 0


def parse_bai2(path: str | Path, *, verify: bool = True, encoding: str = "latin-1") -> Statement:
    """Parse a BAI2 file: one ``StatementAccount`` per 03 record (dated by its group's as-of date)."""
    path = Path(path)
    records = _logical_records(path, read_text(path, encoding))
    if not records or records[0].code != "01":
        raise ParseError(path, records[0].line if records else 1, "a BAI2 file starts with a 01 file header")
    accounts: list[StatementAccount] = []
    lines: list[StatementLine] = []

    warnings: list[StatementWarning] = []

    def check(ok: bool, line: int, message: str, code: str = "control_total_mismatch",
              account_id: str | None = None) -> None:
        if ok:
            return
        if verify:
            raise ParseError(path, line, message)
        warnings.append(StatementWarning(code, f"{path}, line {line}: {message}", account_id, group_date,
                                         f"line {line}"))

    file_total = 0
    file_records = 0
    groups = 0
    state = "file"
    group_currency = "USD"
    group_date: date | None = None
    group_total = group_records = group_accounts = 0
    bank_id = None
    account: dict | None = None
    account_lines: list[StatementLine] = []
    last = records[-1]
    for rec in records:
        n_physical = 1 + len(rec.continuations)
        file_records += n_physical
        if state != "file":
            group_records += n_physical
        if account is not None:
            account["records"] += n_physical
        fields = rec.body.split(",")
        if rec.code == "01":
            if not (state == "file" and rec is records[0]):
                raise ParseError(path, rec.line, "unexpected 01 file header")
        elif rec.code == "02":
            if state != "file":
                raise ParseError(path, rec.line, "02 group header before the previous group's 98 trailer")
            state, groups = "group", groups + 1
            group_total = group_accounts = 0
            group_records = n_physical
            bank_id = fields[1].strip() if len(fields) > 1 else None
            if len(fields) < 4:
                raise ParseError(path, rec.line, "02 group header lacks the as-of date")
            group_date = _date(path, rec.line, fields[3])
            group_currency = (fields[5].strip() if len(fields) > 5 else "") or "USD"
        elif rec.code == "03":
            if state != "group":
                raise ParseError(path, rec.line, "03 account record outside a group (or before the last 49)")
            state = "account"
            currency = (fields[1].strip() if len(fields) > 1 else "") or group_currency
            account = {"account_id": fields[0].strip(), "currency": currency.upper(), "line": rec.line,
                       "total": 0, "records": n_physical, "balances": {}}
            for type_code, amount_text in _summary_groups(path, rec.line, [fields[2:]] + [
                    c.split(",") for c in rec.continuations]):
                amount = _amount(path, rec.line, amount_text, f"summary amount for type {type_code}")
                account["total"] += amount
                if type_code in BALANCE_CODES and amount_text.strip():
                    account["balances"][BALANCE_CODES[type_code]] = amount
            account_lines = []
        elif rec.code == "16":
            if state != "account" or account is None:
                raise ParseError(path, rec.line, "16 detail record outside an account")
            head = rec.body.split(",", 3)
            if len(head) < 2:
                raise ParseError(path, rec.line, "16 detail record lacks its type code and amount")
            type_text = head[0].strip()
            if not type_text.isdigit():
                raise ParseError(path, rec.line, f"type code {type_text!r} is not a number")
            if head[1].strip()[:1] in ("+", "-"):
                raise ParseError(path, rec.line, f"detail amount {head[1].strip()!r} is signed; a 16 amount is "
                                                 "unsigned and its type code gives the direction")
            amount = _amount(path, rec.line, head[1], "detail amount")
            account["total"] += amount
            rest = rec.body.split(",")
            j = _funds_extra(path, rec.line, rest, 2)
            value_date = None
            if len(rest) > 3 and rest[2].strip().upper() == "V" and rest[3].strip():
                value_date = _date(path, rec.line, rest[3])
            # bank ref, customer ref, then the text: everything after (it may contain commas)
            tail = rec.body.split(",", j + 2)
            bank_ref = tail[j].strip() if len(tail) > j else ""
            customer_ref = tail[j + 1].strip() if len(tail) > j + 1 else ""
            text = tail[j + 2] if len(tail) > j + 2 else ""
            # a continuation ending in ",/" leaves an empty trailing field, not a comma of the text
            parts = [text, *(c[:-1] if c.endswith(",") else c for c in rec.continuations)]
            text = " ".join(part.strip() for part in parts if part.strip())
            sign = direction_of(int(type_text))
            if sign == 0:
                raise ParseError(path, rec.line, f"type code {type_text} is not a credit or debit detail code")
            account_lines.append(StatementLine(
                account_id=account["account_id"], currency=account["currency"], date=group_date,
                amount_minor=sign * amount, type_code=type_text, bank_reference=bank_ref or None,
                customer_reference=customer_ref or None, text=text or None, value_date=value_date,
                line_ref=f"{path}, line {rec.line}"))
        elif rec.code == "49":
            if state != "account" or account is None:
                raise ParseError(path, rec.line, "49 account trailer without an account")
            total = _amount(path, rec.line, fields[0], "account control total")
            count = _amount(path, rec.line, fields[1] if len(fields) > 1 else "", "record count")
            check(total == account["total"], rec.line,
                  f"account {account['account_id']} control total {total} does not equal the sum of its "
                  f"amounts {account['total']} (bad checksum)", account_id=account["account_id"])
            check(count == account["records"], rec.line,
                  f"account {account['account_id']} record count {count} does not equal the "
                  f"{account['records']} records found", "record_count_mismatch", account["account_id"])
            group_total += total
            group_accounts += 1
            accounts.append(with_line_totals(StatementAccount(
                account_id=account["account_id"], currency=account["currency"], date=group_date,
                bank_id=bank_id, **account["balances"]), account_lines))
            lines.extend(account_lines)
            account, state = None, "group"
        elif rec.code == "98":
            if state != "group":
                raise ParseError(path, rec.line, "98 group trailer inside an account (missing 49)")
            file_total += _trailer(path, rec.line, fields, check, "group", "account", group_total, group_accounts,
                                   group_records)
            state = "file"
        elif rec.code == "99":
            if state != "file":
                raise ParseError(path, rec.line, "99 file trailer before the last group's 98 trailer")
            _trailer(path, rec.line, fields, check, "file", "group", file_total, groups, file_records)
            if rec is not last:
                raise ParseError(path, rec.line, "records after the 99 file trailer")
            state = "done"
    if state != "done":
        raise ParseError(path, last.line + len(last.continuations),
                         "file ends without a 99 file trailer (truncated?)")
    return Statement(format="bai2", path=str(path), accounts=accounts, lines=lines, warnings=warnings)
