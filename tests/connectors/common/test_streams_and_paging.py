"""The shared pieces the API connectors are built from: the JSON client's headers, the paging loop, and
the ``extract_<stream>`` functions the ingest step resolves by name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.common.errors import ParseError
from connectors.common.http import json_api_client
from connectors.common.paging import Paging, after_last, data_items
from ledger_pipeline.ingest.sources import SOURCES


def test_json_api_client_sends_only_the_headers_that_have_a_value(httpserver):
    httpserver.expect_request("/v1/x", headers={"Accept": "application/json", "X-Key": "k"}).respond_with_data(
        '{"amount": 1.10}', content_type="application/json")
    with json_api_client(httpserver.url_for("/"), {"X-Key": "k", "Authorization": None}) as client:
        assert client.get_json("/v1/x") == {"amount": Decimal("1.10")}
    request, _ = httpserver.log[0]
    assert "Authorization" not in request.headers


def test_paging_follows_the_position_until_there_is_none():
    responses = {None: {"data": [{"token": "a"}, {"token": "b"}], "has_more": True},
                 "b": {"data": [{"token": "c"}], "has_more": False}}
    queries: list[dict] = []

    def get(query: dict) -> dict:
        queries.append(query)
        return responses[query.get("after")]

    paging = Paging("demo", "size", "after", data_items, after_last("token"))
    assert list(paging.pages(get, {"q": 1}, 2)) == [[{"token": "a"}, {"token": "b"}], [{"token": "c"}]]
    assert queries == [{"q": 1, "size": 2}, {"q": 1, "size": 2, "after": "b"}]
    with pytest.raises(ParseError, match="demo, page after None: response has no data"):
        list(paging.pages(lambda query: {"items": []}, {}, 2))


def test_every_api_stream_resolves_to_its_named_extract_function():
    resolved = 0
    for spec in SOURCES.values():
        for stream in spec.api_streams:
            extract = spec.stream_fn(stream)
            assert callable(extract) and extract.__name__ == f"extract_{stream}", (spec.name, stream)
            assert extract.__doc__, (spec.name, stream)
            resolved += 1
    assert resolved >= 20
