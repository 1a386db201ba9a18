"""Exact money: integers of minor units, with the currency's exponent. Never float.

``to_minor`` is the one place a decimal in major units becomes minor units; it refuses any amount with
more precision than the exponent allows (``10.005 USD`` is an error, not a rounding). Batch paths do the
same conversion in SQL (the ledger core's ``rules.PREPARE_SQL``) with the same rules.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal

MAX_DIGITS = 38

# ISO 4217 minor-unit exponents that differ from 2, plus common custom codes.
_EXPONENTS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
    "BTC": 8, "ETH": 18, "USDC": 6, "POINTS": 0,
}
_EXACT = Context(prec=MAX_DIGITS + 40)  # room for 38 digits and any exponent: never rounds
_AMOUNT = re.compile(r"^[+-]?(\d+)(?:\.(\d*))?$")


class AmountError(ValueError):
    """An amount that cannot be represented exactly. ``reason_code`` matches the batch rule's code."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code = reason_code


def currency_exponent(currency: str, default: int = 2) -> int:
    """The usual exponent of a currency code (2 unless ISO 4217 or a known custom code says otherwise)."""
    return _EXPONENTS.get(currency.upper(), default)


def to_minor(amount: str | int | Decimal, exponent: int) -> int:
    """Convert a decimal amount in major units to an exact integer of minor units.

    >>> to_minor("12.34", 2)
    1234
    >>> to_minor("10.005", 2)
    Traceback (most recent call last):
    ...
    ledger_common.money.AmountError: 10.005 has more than 2 decimal places
    """
    if isinstance(amount, float):
        raise AmountError("invalid_amount", f"{amount!r} is a float; pass a string, int or Decimal")
    if isinstance(amount, bool):
        raise AmountError("invalid_amount", f"{amount!r} is not an amount")
    if isinstance(amount, int):
        minor = amount * 10**exponent
    else:
        # a Decimal is written out in full ("1E+5" -> "100000"); text is taken digit by digit, never through
        # Decimal arithmetic, whose default context keeps only 28 significant digits and would round
        text = format(amount, "f") if isinstance(amount, Decimal) else str(amount).strip()
        match = _AMOUNT.match(text)
        if not match:
            raise AmountError("invalid_amount", f"{text!r} is not a decimal number")
        fraction = (match.group(2) or "").rstrip("0")
        if len(fraction) > exponent:
            raise AmountError("excess_precision", f"{text} has more than {exponent} decimal places")
        minor = int(match.group(1) + fraction.ljust(exponent, "0"))
        if text.startswith("-"):
            minor = -minor
    if len(str(abs(minor))) > MAX_DIGITS:
        raise AmountError("amount_too_large", f"{amount} has more than {MAX_DIGITS} digits in minor units")
    return minor


def to_major(minor: int, exponent: int) -> Decimal:
    """Minor units back to an exact Decimal in major units (for display only)."""
    return Decimal(minor).scaleb(-exponent, context=_EXACT)


def format_amount(minor: int, exponent: int, currency: str = "") -> str:
    text = f"{to_major(minor, exponent):,.{exponent}f}"
    return f"{text} {currency}".strip()
