"""The mappings put the accounts they create in categories: on the demo's scenario every account of the
store ends up in a category (the ERP's and the bank-linked ones by the demo's set-up), a later batch on the
same accounts adds no membership and rewrites none, a category's balance is its accounts' sum, and a
mapping naming an unknown category is refused."""

from __future__ import annotations

import json

import pytest

from ledger_pipeline.demo.runner import setup_chart
from ledger_pipeline.demo.scenario import generate_scenario
from ledger_pipeline.ingest.mapping import MappingError, parse_mapping
from ledger_pipeline.ingest.pipeline import ingest
from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.categories import category_balances, category_detail


def _memberships(store) -> list[tuple]:
    with store.connect() as conn:
        return conn.all(
            "SELECT c.name, a.name, m.removed_at, m.change_seq FROM ledger_account_category_accounts m "
            "JOIN ledger_account_categories c ON c.id = m.category_id JOIN ledger_accounts a "
            "ON a.id = m.ledger_account_id ORDER BY 1, 2")


def test_mappings_and_the_demo_chart_categorise_every_account_once(store, tmp_path):
    scenario = generate_scenario(tmp_path / "landing")
    setup_chart(store)
    for source in ("stripe", "adyen", "events"):
        ingest(store, source, files=scenario.files[source])
    first = _memberships(store)
    assert {(c, a) for c, a, _, _ in first} >= {
        ("processor_balances", "stripe:balance:USD"), ("fees", "stripe:fees:USD"),
        ("revenue", "stripe:gross_sales:USD"), ("revenue", "stripe:refunds:USD"),
        ("processor_balances", "adyen:balance:EUR"), ("bank_accounts", "adyen:payouts_to_bank:EUR"),
        ("bank_accounts", "erp_operating_cash"), ("expenses", "erp_rent_expense"), ("equity", "erp_owner_equity"),
        ("customer_balances", "events:wallet:s_alpine_crafts:USD")}
    with store.connect() as conn:
        uncategorised = conn.all(
            "SELECT name FROM ledger_accounts WHERE id NOT IN (SELECT ledger_account_id FROM "
            "ledger_account_category_accounts WHERE removed_at IS NULL)")
        assert uncategorised == []
        cash = category_detail(conn, ledger="main", category="cash")
        assert cash["children"] == ["bank_accounts", "processor_balances"] and cash["parents"] == ["assets"]

    # a later Stripe file on the same accounts: the chart is ensured again and changes nothing
    page = json.loads(open(scenario.files["stripe"][0]).read())
    charge = dict(next(t for t in page["data"] if t["type"] == "charge"), id="txn_demo_later")
    later = tmp_path / "later.json"
    later.write_text(json.dumps({**page, "data": [charge]}))
    assert ingest(store, "stripe", files=[later]).created == 1
    assert _memberships(store) == first

    with store.connect() as conn:
        revenue = {r["currency"]: r for r in category_balances(conn, ledger="main", category="revenue")}
        names = {a for c, a, _, _ in first if c == "revenue"}
        accounts = [r for r in account_balances(conn, ledger="main") if r["account"] in names]
    for currency, row in revenue.items():
        mine = [r for r in accounts if r["currency"] == currency]
        assert row["posted_amount"] == sum(r["posted_credits"] - r["posted_debits"] for r in mine) != 0
    assert set(revenue) == {"USD", "EUR"}


@pytest.mark.parametrize("change, message", [
    ({"accounts": {"cash": {"name": "c", "normal_balance": "debit", "currency": "USD", "categories": ["cassh"]}}},
     "accounts.cash.categories: 'cassh' is neither a standard category"),
    ({"categories": {"revenue": {"normal_balance": "credit"}}}, "'revenue' is a standard category"),
    ({"categories": {"a": {"normal_balance": "debit", "parent": "b"}, "b": {"normal_balance": "debit", "parent": "a"}}},
     "cycle"),
    ({"categories": {"a": {"normal_balance": "debit", "parent": "nowhere"}}}, "'nowhere' is not in the chart"),
])
def test_a_mapping_naming_an_unknown_category_is_refused(change, message):
    with pytest.raises(MappingError, match=message) as caught:
        parse_mapping({"source": "x", **change}, path="x.yaml")
    assert str(caught.value).startswith("x.yaml: ")
