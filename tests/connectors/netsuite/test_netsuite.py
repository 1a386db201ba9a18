"""NetSuite SuiteQL against a local server. The rows are built from the journal entries of
fylein/netsuite-sdk-py's integration data (tests/fixtures/netsuite, MIT): each ``lineList`` line becomes
one TransactionAccountingLine row as SuiteQL returns it. Covers paging (a transaction split across pages),
the overlap window with de-duplication, voids and the DeletedRecord table."""

from __future__ import annotations

import json

import pytest

from connectors.netsuite import extract, helpers, make_client
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

SUITEQL = "/services/rest/query/v1/suiteql"


def suiteql_rows(name: str, tx_id: str, modified: str, *, voided: str = "F") -> list[dict]:
    je = support.fixture("netsuite", name)
    return [{"links": [], "id": tx_id, "tranid": je["externalId"], "type": "Journal", "trandate": "2024-01-15",
             "lastmodified": modified, "voided": voided, "memo": je["memo"], "line": str(i),
             "account": line["account"]["internalId"],
             "debit": None if line.get("debit") is None else str(line["debit"]),
             "credit": None if line.get("credit") is None else str(line["credit"])}
            for i, line in enumerate(je["lineList"])]


class _Server:
    def __init__(self):
        self.rows: list[dict] = []
        self.deleted: list[dict] = []
        self.queries: list[str] = []
        self.offsets: list[int] = []

    def handler(self, request):
        query = json.loads(request.data)["q"]
        self.queries.append(query)
        limit, offset = int(request.args["limit"]), int(request.args["offset"])
        self.offsets.append(offset)
        rows = self.deleted if "FROM deletedrecord" in query else self.rows
        page = rows[offset:offset + limit]
        return support.json_response({"links": [], "count": len(page), "hasMore": offset + limit < len(rows),
                                      "offset": offset, "totalResults": len(rows), "items": page})


@pytest.fixture
def server(httpserver, monkeypatch):
    s = _Server()
    httpserver.expect_request(SUITEQL, method="POST").respond_with_handler(s.handler)
    monkeypatch.setenv("NETSUITE_ACCESS_TOKEN", "t")
    return s


def test_lines_are_grouped_across_pages_and_balance(httpserver, server):
    server.rows = suiteql_rows("adv_inter_company_journal_entries.json", "2001", "2024-01-15T10:00:00")
    with make_client(httpserver.url_for(""), max_retries=0) as client:
        result = extract(client, cursor=None, page_size=3)
    assert server.offsets == [0, 3]  # four rows, pages of three
    assert "lastmodifieddate >=" not in server.queries[0]  # a first run reads everything
    assert [(r.object_id, r.fields["signed_amount"]) for r in result.records] == [
        ("2001:line:0", -50000), ("2001:line:1", 50000), ("2001:line:2", -50000), ("2001:line:3", 50000)]
    assert result.cursor == "2024-01-15T10:00:00+00:00"


def test_unbalanced_lines_are_refused():
    rows = suiteql_rows("journal_entries.json", "1", "2024-01-15T10:00:00")[:1]
    with pytest.raises(Exception, match="do not balance"):
        helpers.group_transactions(rows)


def test_overlap_dedup_void_and_delete(store, httpserver, server):
    url = httpserver.url_for("")
    server.rows = suiteql_rows("journal_entries.json", "1001", "2024-01-15T10:00:00")
    first = ingest(store, "netsuite", api=True, base_url=url)
    assert first.created == 2 and first.quarantined == 0, first.as_dict()

    # Second run: the overlap window returns 1001 again, unchanged, and a new journal 2001 whose rows come
    # twice (an older version of it too): each line lands and posts once.
    server.rows = (suiteql_rows("journal_entries.json", "1001", "2024-01-15T10:00:00")
                   + suiteql_rows("adv_inter_company_journal_entries.json", "2001", "2024-01-15T10:04:00")
                   + suiteql_rows("adv_inter_company_journal_entries.json", "2001", "2024-01-15T10:05:00"))
    second = ingest(store, "netsuite", api=True, base_url=url)
    assert "TO_TIMESTAMP('2024-01-15T09:45:00'" in server.queries[-2]  # cursor minus the 15-minute overlap
    assert second.created == 4 and second.quarantined == 0, second.as_dict()
    txs = support.ledger_transactions(store, "netsuite")
    assert len(txs) == 6 and {v["debits"] for v in txs.values()} == {50000}

    # Third run: 1001 was voided, 2001 deleted: every line of both is reversed.
    server.rows = suiteql_rows("journal_entries.json", "1001", "2024-01-16T08:00:00", voided="T")
    server.deleted = [{"links": [], "id": "2001", "type": "journalentry", "deleted": "2024-01-16T09:00:00"}]
    third = ingest(store, "netsuite", api=True, base_url=url)
    assert third.quarantined == 0, third.as_dict()
    txs = support.ledger_transactions(store, "netsuite")
    reversals = {k for k in txs if k.endswith(":reversal")}
    assert len(reversals) == 6
    assert all(txs[k]["reverses_id"] == txs[k.removesuffix(":reversal")]["id"] for k in reversals)
    with store.connect() as conn:
        per_account = conn.all(
            "SELECT a.name, sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END) "
            "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.ledger_account_id "
            "WHERE a.name LIKE 'netsuite:%' GROUP BY a.name")
    assert per_account and all(int(total) == 0 for _, total in per_account)
    support.assert_ledger_invariants(store)
