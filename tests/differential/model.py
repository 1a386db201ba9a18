"""Random statements (accounts, balances, lines) and their rendering as BAI2, OFX, camt.053 and MT940."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

EXPONENT = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0, "KWD": 3}
TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz0123456789.-éüöÄß", min_size=1,
               max_size=24).map(str.strip).filter(bool)


@dataclass
class Line:
    amount: int  # signed minor units
    day: date
    text: str
    ref: str


@dataclass
class Account:
    account_id: str
    currency: str
    opening: int
    day: date
    lines: list[Line]

    @property
    def closing(self) -> int:
        return self.opening + sum(x.amount for x in self.lines)


def decimal_text(minor: int, currency: str, mark: str = ".") -> str:
    """Unsigned decimal text of ``abs(minor)`` in the currency's exponent."""
    exp = EXPONENT[currency]
    value = Decimal(abs(minor)).scaleb(-exp)
    text = f"{value:.{exp}f}"
    return text.replace(".", mark)


def to_minor(value: Decimal, currency: str) -> int:
    scaled = Decimal(value).scaleb(EXPONENT[currency])
    assert scaled == scaled.to_integral_value(), (value, currency)
    return int(scaled)


@st.composite
def accounts(draw, currencies=tuple(EXPONENT), max_accounts=3, max_lines=6, id_alphabet="0123456789",
             min_amount=1, signed_opening=True):
    n = draw(st.integers(1, max_accounts))
    ids = draw(st.lists(st.text(alphabet=id_alphabet, min_size=6, max_size=12), min_size=n, max_size=n,
                        unique=True))
    day = draw(st.dates(date(2001, 1, 1), date(2049, 12, 28)))
    out = []
    for account_id in ids:
        currency = draw(st.sampled_from(currencies))
        opening = draw(st.integers(-10**9 if signed_opening else 0, 10**9))
        lines = []
        for i in range(draw(st.integers(0, max_lines))):
            amount = draw(st.integers(min_amount, 10**9)) * draw(st.sampled_from((1, -1)))
            lines.append(Line(amount, day - timedelta(days=draw(st.integers(0, 2))), draw(TEXT), f"R{i}X{abs(amount)}"))
        out.append(Account(account_id, currency, opening, day, lines))
    return out
