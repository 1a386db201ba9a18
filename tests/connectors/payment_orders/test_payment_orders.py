from __future__ import annotations

from pathlib import Path

import pytest

from connectors.common.errors import ParseError
from connectors.payment_orders import read_payment_orders

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payment_orders"


def test_json_and_csv_payment_orders():
    orders = read_payment_orders(FIXTURES / "payment_orders.json") + read_payment_orders(FIXTURES / "payment_orders.csv")
    assert [(o.object_id, o.fields["direction"], o.fields["amount"], o.fields["status"]) for o in orders] == [
        ("po_1", "credit", 150000, "completed"), ("po_2", "debit", 990000, "pending"), ("po_3", "credit", 2500, "sent")]
    assert orders[0].fields["originating_account_id"] == "ia_operating"


def test_bad_payment_orders(tmp_path):
    bad = tmp_path / "po.csv"
    bad.write_text((FIXTURES / "payment_orders.csv").read_text().replace(",2500,", ",25.00,"))
    with pytest.raises(ParseError, match=r"po.csv, line 2: amount '25.00' is not a positive integer"):
        read_payment_orders(bad)
    bad.write_text((FIXTURES / "payment_orders.csv").read_text().replace(",credit,", ",sideways,"))
    with pytest.raises(ParseError, match="direction 'sideways'"):
        read_payment_orders(bad)
