"""Exact amounts from source payloads (and JSON files read with exact decimals): a decimal in major units (text, int or ``Decimal``; never float)
becomes an ``int`` of minor units with the currency's exponent, refusing extra precision.

JSON floats must be parsed as ``Decimal`` before they get here (``HttpClient(..., decimal_floats=True)``
or ``json.loads(text, parse_float=Decimal)``); a Python ``float`` is refused, never rounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.common.errors import ParseError
from connectors.common.files import read_text
from ledger_common.money import AmountError, currency_exponent, to_minor


def minor_units(value: str | int | Decimal | None, currency: str | None = None, *,
                exponent: int | None = None) -> int | None:
    """``"12.30"`` USD -> ``1230``; ``None`` and ``""`` stay ``None``. Raises ``AmountError`` when the value
    has more decimals than the exponent allows or is not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AmountError("invalid_amount", f"{value!r} is not an amount")
    exp = exponent if exponent is not None else currency_exponent(currency or "", 2)
    if isinstance(value, Decimal):
        value = format(value, "f")
    return to_minor(value, exp)


def load_json_file(path: str | Path) -> Any:
    """A JSON file with every fractional number as ``Decimal``; a syntax error names file, line and column."""
    text = read_text(path)
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}") from None


def json_objects(path: str | Path) -> Iterator[dict]:
    """The objects of a saved JSON file holding one object or an array of them (a recorded exchange is
    unwrapped first); an item that is not an object is a ``ParseError`` when it is reached."""
    body = unwrap_recorded(load_json_file(path))
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, dict):
            raise ParseError(path, None, "expected JSON objects")
        yield item


def unwrap_recorded(body: Any) -> Any:
    """A recorded exchange ``{"request": ..., "response": ...}`` (the samples' shape) -> its response body."""
    if isinstance(body, dict) and set(body) >= {"request", "response"}:
        response = body["response"]
        return response.get("body", response) if isinstance(response, dict) and "status" in response \
            and "body" in response else response
    return body
