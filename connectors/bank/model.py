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
class StatementWarning:
    """A control of the file's own that did not hold (the statement is kept and flagged, not refused).

    ``code`` names the check: ``balance_mismatch`` (opening + lines != closing: camt, MT940, OFX LEDGERBAL),
    ``control_total_mismatch`` and ``record_count_mismatch`` (BAI2 trailers taken with ``verify=False``).
    """

    code: str
    message: str
    account_id: str | None = None
    date: date | None = None
    location: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.date.isoformat() if self.date else None
        return d


@dataclass(frozen=True)
class Statement:
    format: str
    path: str
    accounts: list[StatementAccount] = field(default_factory=list)
    lines: list[StatementLine] = field(default_factory=list)
    warnings: list[StatementWarning] = field(default_factory=list)

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
            "warnings": [w.as_dict() for w in self.warnings],
        }


def with_line_totals(account: StatementAccount, lines: list[StatementLine]) -> StatementAccount:
    """``account`` with its credit/debit sums and counts taken from its lines."""
    credits = [x.amount_minor for x in lines if x.amount_minor > 0]
    debits = [-x.amount_minor for x in lines if x.amount_minor < 0]
    return StatementAccount(**{**asdict(account), "credits_total": sum(credits), "debits_total": sum(debits),
                               "credits_count": len(credits), "debits_count": len(debits)})


def balance_warning(path: str, account: StatementAccount, where: str | None = None) -> StatementWarning | None:
    """A ``balance_mismatch`` warning when opening + credits - debits != closing (both balances given)."""
    if account.opening_balance is None or account.closing_balance is None:
        return None
    expected = account.opening_balance + account.credits_total - account.debits_total
    if expected == account.closing_balance:
        return None
    return StatementWarning(
        "balance_mismatch",
        f"{path}: account {account.account_id} {account.currency} on {account.date.isoformat()}: opening "
        f"{account.opening_balance} + credits {account.credits_total} - debits {account.debits_total} = "
        f"{expected}, but the closing balance is {account.closing_balance}",
        account.account_id, account.date, where)
