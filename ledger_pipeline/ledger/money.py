"""Exact money for the core: the shared ``ledger_common.money`` (the connectors use the same module)."""

from __future__ import annotations

from ledger_common.money import (
    MAX_DIGITS,
    AmountError,
    currency_exponent,
    format_amount,
    to_major,
    to_minor,
)

__all__ = ["MAX_DIGITS", "AmountError", "currency_exponent", "format_amount", "to_major", "to_minor"]
