"""Bank statements as CSV, read with a column mapping (banks' CSV exports all differ).

Mapping keys (all optional except ``date`` and one amount style):

* ``date`` (column), ``date_format`` (strptime format, default ISO ``%Y-%m-%d``)
* ``amount`` — one signed column; or ``debit`` and ``credit`` — two unsigned columns
* ``account`` (column) or ``account_id`` (fixed value); ``currency`` (column) or ``currency_code`` (fixed,
  default USD)
* ``text``/``description``, ``reference`` (bank reference), ``customer_reference``, ``type_code``,
  ``value_date`` (columns); ``balance`` — a running balance column: closing = the last row's, opening = the
  first row's minus its amount; a row whose balance is not the previous one's + its amount is a
  ``balance_mismatch`` warning
* ``decimal`` (``.`` or ``,``), ``thousands`` (``,``, ``.``, `` `` or empty), ``delimiter``, ``encoding``

A number in the other convention (``1,234.56`` where ``.`` groups thousands) is refused with the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.bank.model import (
    Statement,
    StatementAccount,
    StatementLine,
    StatementWarning,
    with_line_totals,
)
from connectors.common.errors import ParseError
from connectors.common.files import NumberFormat, amount_to_minor, iter_csv
from ledger_common.money import currency_exponent


def _date(path: Path, line: int, text: str, fmt: str | None, column: str) -> date:
    try:
        return datetime.strptime(text.strip(), fmt).date() if fmt else date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ParseError(path, line, f"column {column!r}: {text!r} is not a date"
                                     + (f" in format {fmt}" if fmt else " (YYYY-MM-DD)")) from None


def parse_csv_statement(path: str | Path, mapping: Mapping[str, Any] | None = None, **options: Any) -> Statement:
    path = Path(path)
    m = {**(mapping or {}), **options}
    if "date" not in m or not ("amount" in m or ("debit" in m and "credit" in m)):
        raise ParseError(path, None, "read as a CSV statement, which needs a column mapping with 'date' and "
                                     "either 'amount' or 'debit' and 'credit' (e.g. --option date=Date "
                                     "--option amount=Amount); pass format= if it is another format")
    thousands = m.get("thousands", "," if m.get("decimal", ".") == "." else ".")
    fmt = NumberFormat(m.get("decimal", "."), thousands or None)
    required = tuple(m[k] for k in ("date", "amount", "debit", "credit", "account", "currency", "balance")
                     if k in m)
    by_account: dict[tuple[str, str], list[StatementLine]] = {}
    balances: dict[tuple[str, str], list[int]] = {}
    balance_lines: dict[tuple[str, str], list[int]] = {}
    for line, row in iter_csv(path, encoding=m.get("encoding", "utf-8"), delimiter=m.get("delimiter", ","),
                              required=required):
        account_id = row[m["account"]].strip() if "account" in m else str(m.get("account_id", path.stem))
        currency = (row[m["currency"]].strip() if "currency" in m else str(m.get("currency_code", "USD"))).upper()
        exponent = currency_exponent(currency)

        def money(column: str, row=row, line=line, exponent=exponent) -> int:
            text = row[column].strip()
            if not text:
                return 0
            try:
                return amount_to_minor(text, exponent, fmt)
            except ValueError as exc:
                raise ParseError(path, line, f"column {column!r}: {exc}") from None

        if "amount" in m:
            amount = money(m["amount"])
        else:
            amount = abs(money(m["credit"])) - abs(money(m["debit"]))
        text = row.get(m.get("text") or m.get("description") or "", "").strip() or None
        st_line = StatementLine(
            account_id=account_id, currency=currency,
            date=_date(path, line, row[m["date"]], m.get("date_format"), m["date"]), amount_minor=amount,
            type_code=(row.get(m["type_code"], "").strip() or None) if "type_code" in m else None,
            bank_reference=(row.get(m["reference"], "").strip() or None) if "reference" in m else None,
            customer_reference=(row.get(m["customer_reference"], "").strip() or None)
            if "customer_reference" in m else None,
            text=text,
            value_date=_date(path, line, row[m["value_date"]], m.get("date_format"), m["value_date"])
            if m.get("value_date") and row.get(m["value_date"], "").strip() else None,
            line_ref=f"{path}, line {line}")
        key = (account_id, currency)
        by_account.setdefault(key, []).append(st_line)
        if "balance" in m and row[m["balance"]].strip():
            balances.setdefault(key, []).append(money(m["balance"]))
            balance_lines.setdefault(key, []).append(line)
    if not by_account:
        raise ParseError(path, 2, "no statement lines (empty or header-only file)")
    accounts, lines, warnings = [], [], []
    for (account_id, currency), acct_lines in by_account.items():
        running = balances.get((account_id, currency))
        opening = closing = None
        if running and len(running) == len(acct_lines):
            closing = running[-1]
            opening = running[0] - acct_lines[0].amount_minor
            # the running balance is the file's own control: each row's = the previous row's + its amount
            bad = [i for i in range(1, len(running))
                   if running[i] != running[i - 1] + acct_lines[i].amount_minor]
            if bad:
                first = balance_lines[(account_id, currency)][bad[0]]
                warnings.append(StatementWarning(
                    "balance_mismatch",
                    f"{path}, line {first}: account {account_id} {currency}: balance {running[bad[0]]} is not "
                    f"the previous row's {running[bad[0] - 1]} + amount {acct_lines[bad[0]].amount_minor} "
                    f"({len(bad)} row(s) disagree; rows out of date order?)",
                    account_id, acct_lines[bad[0]].date, f"line {first}"))
        accounts.append(with_line_totals(StatementAccount(
            account_id=account_id, currency=currency, date=max(x.date for x in acct_lines),
            opening_balance=opening, closing_balance=closing), acct_lines))
        lines.extend(acct_lines)
    return Statement(format="csv", path=str(path), accounts=accounts, lines=lines, warnings=warnings)
