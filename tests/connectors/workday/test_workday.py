"""Workday through a local server. Workday publishes no real payloads: the pages in tests/fixtures/workday
were written for this project with the REST field names of Workday's journal and settlement objects
(``{data, total}`` collections, ``limit``/``offset`` paging, ``{id, descriptor}`` references)."""

from __future__ import annotations

import copy

import pytest

from connectors.workday import extract_journal_entries, helpers, make_client
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support


class _Server:
    def __init__(self):
        self.journals = (support.fixture("workday", "journal_entries_page1.json")["data"]
                         + support.fixture("workday", "journal_entries_page2.json")["data"])
        self.runs = support.fixture("workday", "settlement_runs.json")["data"]
        self.calls: list[dict] = []

    def page(self, items):
        def handler(request):
            self.calls.append(dict(request.args))
            offset, limit = int(request.args["offset"]), int(request.args["limit"])
            return support.json_response({"total": len(items), "data": items[offset:offset + limit]})
        return handler


@pytest.fixture
def server(httpserver, monkeypatch):
    s = _Server()
    httpserver.expect_request("/journalEntries").respond_with_handler(lambda r: s.page(s.journals)(r))
    httpserver.expect_request("/settlementRuns").respond_with_handler(lambda r: s.page(s.runs)(r))
    monkeypatch.setenv("WORKDAY_ACCESS_TOKEN", "t")
    return s


def test_paging_and_cursor(httpserver, server):
    with make_client(httpserver.url_for(""), max_retries=0) as client:
        result = extract_journal_entries(client, None, page_size=2)
    assert [c["offset"] for c in server.calls] == ["0", "2"]
    posted = [r for r in result.records if r.fields["type"] == "journal_line"]
    assert [(r.object_id.split(":", 1)[1], r.fields["signed_amount"]) for r in posted] == [
        ("line:1", 123456), ("line:2", -123456), ("line:1", 50010), ("line:2", -42010), ("line:3", -8000)]
    assert result.cursor == "2024-04-02T11:00:00+00:00"
    with make_client(httpserver.url_for(""), max_retries=0) as client:
        extract_journal_entries(client, result.cursor, page_size=2)
    assert server.calls[-1]["updatedFrom"] == "2024-04-02T10:30:00+00:00"  # cursor minus the lookback


def test_unbalanced_journal_is_refused():
    journal = support.fixture("workday", "journal_entries_page1.json")["data"][0]
    journal["journalEntryLines"][1]["creditAmount"] = "1234.55"
    with pytest.raises(Exception, match="do not balance"):
        helpers.journal_records(journal)


def test_journals_and_settlements_post_and_a_reversal_undoes(store, httpserver, server):
    url = httpserver.url_for("")
    result = ingest(store, "workday", api=True, base_url=url)
    assert result.quarantined == 0 and result.created == 6, result.as_dict()  # 5 journal lines + 1 settlement
    balances = support.account_balances(store, "workday:")
    assert support.net(balances["workday:ledger_account:6000:USD"]) == 123456
    assert support.net(balances["workday:bank_account:BA-001:USD"]) == -1523075
    assert support.net(balances["workday:journal_clearing:EUR"]) == 0

    reversed_journal = copy.deepcopy(server.journals[0])
    reversed_journal.update(status={"id": "st9", "descriptor": "Reversed"}, lastUpdated="2024-04-10T08:00:00Z")
    server.journals = [reversed_journal]
    ingest(store, "workday", api=True, base_url=url, streams=["journal_entries"])
    txs = support.ledger_transactions(store, "workday")
    line = "workday:3c9a6f0d1e4b4a0c9d2f7e1a5b6c7d80:line:1"
    assert txs[f"{line}:reversal"]["reverses_id"] == txs[line]["id"]
    assert support.net(support.account_balances(store, "workday:ledger_account:6000:USD")["workday:ledger_account:6000:USD"]) == 0
    support.assert_ledger_invariants(store)
