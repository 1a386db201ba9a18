from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.common.cursors import advance, revisit_cursor, revisit_start, split_revisit, window_start
from connectors.common.errors import ParseError
from connectors.common.files import (
    COMMA_DECIMAL,
    DOT_DECIMAL,
    amount_to_minor,
    iter_csv,
    parse_decimal,
    read_text,
)


def test_decimal_formats_are_exact_and_refuse_the_other_convention():
    assert parse_decimal("1,234.56", DOT_DECIMAL) == Decimal("1234.56")
    assert parse_decimal("1.234,56", COMMA_DECIMAL) == Decimal("1234.56")
    assert parse_decimal("(12.50)") == Decimal("-12.50")
    assert amount_to_minor("-0.05", 2) == -5
    with pytest.raises(ValueError, match="decimal mark"):
        parse_decimal("1,234.56", COMMA_DECIMAL)  # a dot-thousands locale must not misread this
    with pytest.raises(ValueError):
        parse_decimal("12,34.5", DOT_DECIMAL)
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        amount_to_minor("10.005", 2)


def test_wrong_encoding_names_line_and_byte(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\n1,2\n3,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParseError) as err:
        read_text(path)
    assert str(err.value).startswith(f"{path}, line 3, byte 6:")


def test_csv_truncated_row_names_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ParseError, match=r"line 3: 2 fields where the header has 3"):
        list(iter_csv(path))
    with pytest.raises(ParseError, match="missing column"):
        list(iter_csv(path, required=("z",)))


def test_cursor_window_and_advance():
    assert window_start(None, timedelta(hours=1)) is None
    assert window_start("1700000000", timedelta(hours=1)) == datetime.fromtimestamp(1700000000 - 3600, UTC)
    assert window_start("2024-01-01T01:00:00Z", timedelta(hours=1)) == datetime(2024, 1, 1, tzinfo=UTC)
    assert advance("100", ["50", None, "150", "120"]) == "150"
    assert advance("200", ["150"]) == "200"


def test_revisit_cursor_keeps_the_oldest_open_record_until_none_is_open():
    hour = timedelta(hours=1)
    cursor = revisit_cursor(None, ["100", "9000", "500"], ["500", "100"])
    assert cursor == "9000 revisit_from=100" and split_revisit(cursor) == ("9000", "100")
    assert revisit_start(cursor, hour) == datetime.fromtimestamp(100, UTC)  # earlier than 9000 - 1 h
    assert revisit_start("2024-01-02T00:00:00+00:00 revisit_from=2024-01-01T23:30:00+00:00", hour) == \
        datetime(2024, 1, 1, 23, tzinfo=UTC)  # the lookback reaches further back than the open record
    # the open records were seen again and have moved on: the window closes, the latest stays
    assert revisit_cursor(cursor, ["100", "500", "9000"], []) == "9000"
    assert revisit_start("9000", hour) == datetime.fromtimestamp(9000 - 3600, UTC)
    assert revisit_cursor(None, [], []) is None and revisit_start(None, hour) is None
