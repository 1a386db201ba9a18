"""The mock API applies each API's cursor filters as the connectors send them: a pull from the cursor of
the previous pull gets the connector's lookback window and the records it re-visits, not the whole history
of copies (copy ``n`` is ``n`` days older)."""

from __future__ import annotations

import pytest

from ledger_pipeline.demo.mock_api import API_SOURCES, MockApi, MockApiServer
from ledger_pipeline.ingest.sources import get_source

COPIES = 3
#: (source, stream) -> (records of a full pull, records of the next pull from its cursor), for 3 copies
EXPECTED = {
    ("stripe", "balance_transactions"): (3, 1),  # created[gte] = cursor - 1 hour: the newest copy only
    ("stripe", "payouts"): (3, 3),  # in_transit: re-visited from the oldest copy still open
    ("lithic", "card_transactions"): (3, 3),  # PENDING: re-visited
    ("lithic", "book_transfers"): (3, 3),  # settled, but inside the 10-day lookback (``begin``)
    ("marqeta", "transactions"): (3, 1),  # start_date: the cursor's day
    ("peach", "transactions"): (10, 3),  # no API filter: the connector keeps what was updated in the lookback
    ("loanpro", "loan_transactions"): (18, 2),  # $filter=id gt (highest id - 500)
    ("netsuite", "transactions"): (18, 6),  # lastmodifieddate >= cursor - 15 minutes: one transaction per entry
    ("workday", "settlement_runs"): (6, 1),  # updatedFrom = cursor - 30 minutes
    ("quickbooks", "sales_receipts"): (12, 1),  # LastUpdatedTime >= cursor - 10 minutes
    ("chargebee", "invoices"): (18, 1),  # updated_at[after] = cursor - 5 minutes
}


@pytest.fixture(scope="module")
def server():
    with MockApiServer(MockApi(copies=COPIES)) as running:
        yield running


@pytest.mark.parametrize("source", API_SOURCES)
def test_a_pull_from_the_cursor_gets_the_window_not_the_history(server, source):
    spec = get_source(source)
    client = spec.client_fn()(server.base_url(source))
    try:
        for stream in spec.api_streams:
            first = spec.stream_fn(stream)(client, None)
            again = spec.stream_fn(stream)(client, first.cursor)
            assert again.cursor == first.cursor, stream  # nothing new: the cursor stays
            assert {r.object_id for r in again.records} <= {r.object_id for r in first.records}, stream
            if (source, stream) in EXPECTED:
                assert (len(first.records), len(again.records)) == EXPECTED[source, stream], stream
    finally:
        client.close()
