"""Reading exported files safely: strict decoding (a wrong encoding is an error naming the line, not
mojibake), CSV by header name, and exact decimal amounts in a declared number format.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.common.errors import ParseError

UTF8_BOM = b"\xef\xbb\xbf"


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The file's text in ``encoding`` (a UTF-8 BOM is dropped). Bytes that do not decode raise a
    ``ParseError`` naming the line and byte column."""
    path = Path(path)
    data = path.read_bytes()
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig") and data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(path, f"line {line}, byte {column}",
                         f"not valid {encoding} (byte 0x{data[exc.start]:02x}); "
                         f"pass the file's encoding if it is not {encoding}") from None


@dataclass(frozen=True)
class NumberFormat:
    """How a file writes decimal numbers: ``1,234.56`` is ``NumberFormat(".", ",")``, ``1.234,56`` is
    ``NumberFormat(",", ".")``."""

    decimal: str = "."
    thousands: str | None = ","

    def __post_init__(self) -> None:
        if self.decimal == self.thousands:
            raise ValueError("decimal and thousands separators must differ")


DOT_DECIMAL = NumberFormat(".", ",")
COMMA_DECIMAL = NumberFormat(",", ".")


def parse_decimal(text: str, fmt: NumberFormat = DOT_DECIMAL) -> Decimal:
    """Exact decimal from text written in ``fmt``. Thousands separators must group by three, so a value
    in the other convention (``1,234.56`` read with ``,`` as decimal mark) is refused, not misread."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1]
    if value.startswith(("-", "+")):
        negative, value = negative ^ (value[0] == "-"), value[1:]
    if value.endswith("-"):
        negative, value = not negative, value[:-1]
    t = re.escape(fmt.thousands) if fmt.thousands else None
    d = re.escape(fmt.decimal)
    grouped = rf"\d{{1,3}}(?:{t}\d{{3}})+" if t else r"(?!)"
    pattern = rf"^(?:{grouped}|\d+)(?:{d}\d+)?$"
    if not value or not re.match(pattern, value):
        raise ValueError(f"{text!r} is not a number written with {fmt.decimal!r} as decimal mark"
                         + (f" and {fmt.thousands!r} for thousands" if fmt.thousands else ""))
    if fmt.thousands:
        value = value.replace(fmt.thousands, "")
    value = value.replace(fmt.decimal, ".")
    try:
        result = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only digits
        raise ValueError(f"{text!r} is not a number") from exc
    return -result if negative else result


def decimal_to_minor(value: Decimal, exponent: int) -> int:
    """Exact minor units; more precision than the exponent is an error, never a rounding."""
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {exponent} decimal places")
    return int(scaled)


def amount_to_minor(text: str, exponent: int, fmt: NumberFormat = DOT_DECIMAL) -> int:
    return decimal_to_minor(parse_decimal(text, fmt), exponent)


def iter_csv_rows(path: str | Path, *, encoding: str = "utf-8", delimiter: str = ",",
                  required: tuple[str, ...] = (), pad_ragged: bool = False,
                  ) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """``(line, row, problem)`` for every non-blank row of a CSV file, by header name (stripped), with the
    line each row starts on. A missing required column is a ``ParseError``; so is a row whose field count is
    not the header's, unless ``pad_ragged``: then the row is yielded padded with ``problem`` naming it, so that
    a caller can quarantine it and read the rest of the file."""
    text = read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ParseError(path, 1, "empty file: no header row") from None
    except csv.Error as exc:
        raise ParseError(path, 1, f"malformed CSV: {exc}") from None
    names = [h.strip() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise ParseError(path, 1, f"missing column(s) {', '.join(missing)}; header is {', '.join(names)}")
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ParseError(path, reader.line_num, f"malformed CSV: {exc}") from None
        if not row or all(not v.strip() for v in row):
            continue
        problem = None
        if len(row) != len(names):
            problem = f"{len(row)} fields where the header has {len(names)} (truncated or malformed row)"
            if not pad_ragged:
                raise ParseError(path, line, problem)
            row = (row + [""] * len(names))[:len(names)]
        yield line, dict(zip(names, row, strict=True)), problem


def iter_csv(path: str | Path, *, encoding: str = "utf-8", delimiter: str = ",",
             required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file by header name, with the line number each row starts on (``iter_csv_rows``; a row
    with the wrong number of fields is a ``ParseError``)."""
    for line, row, _ in iter_csv_rows(path, encoding=encoding, delimiter=delimiter, required=required):
        yield line, row


def json_lines(path: str | Path, text: str) -> list[tuple[str, Any]]:
    """``(record_ref, value)`` of each non-blank line of a JSON-lines text; a line that is not JSON (a
    truncated write) is a ``ParseError`` naming it."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}, line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ParseError(path, n, f"malformed JSON line (truncated?): {exc.msg}") from None
    return out
