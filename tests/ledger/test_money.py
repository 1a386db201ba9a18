"""money.py: exact conversion between decimal text and integers of minor units (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger_pipeline.ledger.money import AmountError, currency_exponent, format_amount, to_major, to_minor


@pytest.mark.parametrize(("amount", "exponent", "minor"), [
    ("12.34", 2, 1234), ("12.3", 2, 1230), ("12", 2, 1200), ("12.340000", 2, 1234), ("0.01", 2, 1),
    ("1500", 0, 1500), ("1500.000", 0, 1500), ("0.00000001", 8, 1), ("-12.34", 2, -1234),
    (Decimal("1.5"), 1, 15), (7, 3, 7000), ("9" * 38, 0, int("9" * 38)), ("9" * 36 + ".99", 2, int("9" * 38)),
])
def test_to_minor_is_exact(amount, exponent, minor):
    assert to_minor(amount, exponent) == minor


@pytest.mark.parametrize(("amount", "exponent", "code"), [
    ("10.005", 2, "excess_precision"), ("0.1", 0, "excess_precision"), ("1e3", 2, "invalid_amount"),
    ("1,000", 2, "invalid_amount"), ("", 2, "invalid_amount"), ("ten", 2, "invalid_amount"),
    (10.5, 2, "invalid_amount"), ("1" + "0" * 38, 0, "amount_too_large"), ("1" + "0" * 36, 2, "amount_too_large"),
])
def test_to_minor_refuses_what_cannot_be_exact(amount, exponent, code):
    with pytest.raises(AmountError) as refused:
        to_minor(amount, exponent)
    assert refused.value.reason_code == code


def test_exponents_and_display():
    assert [currency_exponent(c) for c in ("USD", "jpy", "KWD", "BTC", "POINTS", "XYZ")] == [2, 0, 3, 8, 0, 2]
    assert to_major(1234, 2) == Decimal("12.34")
    assert format_amount(123456789, 2, "USD") == "1,234,567.89 USD"
    assert format_amount(int("9" * 38), 2) == f"{int('9' * 36):,}.99"


def test_no_rounding_past_28_significant_digits():
    """Decimal's default context keeps 28 digits; money must not pass through it."""
    assert to_minor("1234567890123456789012345678901.23", 2) == 123456789012345678901234567890123
    assert to_minor(Decimal("1234567890123456789012345678901.23"), 2) == 123456789012345678901234567890123
    assert to_minor(Decimal("1E+5"), 2) == 10_000_000
    assert to_major(123456789012345678901234567890123, 2) == Decimal("1234567890123456789012345678901.23")
