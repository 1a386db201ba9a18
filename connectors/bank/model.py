"""The normalised statement every bank format parses into (see docs/connectors.md for the contract)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class StatementLine:
    account_id: str
    currency: str
    date: date
    amount_minor: int  # signed: credit to the account > 0, debit < 0
    type_code: str | None = None
    bank_reference: str | None = None
    customer_reference: str | None = None
    text: str | None = None
    value_date: date | None = None
    line_ref: str | None = None

    @property
    def is_credit(self) -> bool:
        return self.amount_minor > 0


@dataclass(frozen=True)
class StatementAccount:
    account_id: str
    currency: str
    date: date
    opening_balance: int | None = None
    closing_balance: int | None = None
    opening_available: int | None = None
    closing_available: int | None = None
    credits_total: int = 0
    debits_total: int = 0
    credits_count: int = 0
    debits_count: int = 0
    bank_id: str | None = None
    name: str | None = None
    statement_id: str | None = None


LINE_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("currency", pa.string()), ("date", pa.date32()),
    ("amount_minor", pa.int64()), ("type_code", pa.string()), ("bank_reference", pa.string()),
    ("customer_reference", pa.string()), ("text", pa.string()), ("value_date", pa.date32()),
    ("line_ref", pa.string()),
])


@dataclass(frozen=True)
class Statement:
    format: str
    path: str
    accounts: list[StatementAccount] = field(default_factory=list)
    lines: list[StatementLine] = field(default_factory=list)

    def lines_table(self) -> pa.Table:
        return pa.Table.from_pylist([asdict(line) for line in self.lines], schema=LINE_SCHEMA)

    def summary(self) -> dict[str, Any]:
        """Accounts with balances, sums of credits and debits and line counts (JSON-able)."""
        accounts = []
        for a in self.accounts:
            d = asdict(a)
            d["date"] = a.date.isoformat()
            accounts.append(d)
        return {
            "format": self.format, "file": self.path, "accounts": accounts,
            "lines": len(self.lines),
            "credits_total": sum(a.credits_total for a in self.accounts),
            "debits_total": sum(a.debits_total for a in self.accounts),
        }


def with_line_totals(account: StatementAccount, lines: list[StatementLine]) -> StatementAccount:
    """``account`` with its credit/debit sums and counts taken from its lines."""
    credits = [x.amount_minor for x in lines if x.amount_minor > 0]
    debits = [-x.amount_minor for x in lines if x.amount_minor < 0]
    return StatementAccount(**{**asdict(account), "credits_total": sum(credits), "debits_total": sum(debits),
                               "credits_count": len(credits), "debits_count": len(debits)})
