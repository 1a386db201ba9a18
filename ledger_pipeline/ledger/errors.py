"""Errors raised by the core. Rule violations are values (see ``rules.Violation``), not exceptions;
exceptions are for input that cannot be read at all or for a single write that was refused. ``LedgerError``
and ``InputError`` live in ``ledger_common.errors`` so the connectors raise the same classes."""

from __future__ import annotations

from ledger_common.errors import InputError, LedgerError

__all__ = ["InputError", "LedgerError", "NotFoundError", "RuleViolation"]


class NotFoundError(LedgerError):
    """A ledger, account or transaction that does not exist."""


class RuleViolation(LedgerError):
    """A single-transaction write refused by one or more double-entry rules. CLI exit code 1."""

    def __init__(self, violations):
        self.violations = list(violations)
        detail = "; ".join(f"{v.reason_code}: {v.detail}" for v in self.violations)
        super().__init__(detail or "rule violation")

    @property
    def reason_codes(self) -> list[str]:
        return sorted({v.reason_code for v in self.violations})
