from __future__ import annotations

from pathlib import Path

import pytest

from connectors.common.errors import ParseError
from connectors.events import parse_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "events"


def test_feed_and_saved_delivery_are_flattened_and_normalised():
    records = parse_file(FIXTURES / "wallet_events.jsonl")
    assert [r.object_id for r in records] == [f"evt_00{i}" for i in range(1, 7)]
    first = records[0].fields
    assert (first["type"], first["data.amount"], first["currency"], first["created_at"]) == (
        "wallet.deposit", 10000, "USD", "2024-05-01T08:00:00+00:00")  # +02:00 converted to UTC
    (delivery,) = parse_file(FIXTURES / "webhook_delivery.json")
    assert (delivery.object_id, delivery.fields["data.user_id"], delivery.fields["currency"]) == ("evt_101", "u_9", "EUR")


def test_bad_events_name_their_line(tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "e1", "type": "t"}\n{"id": "e2", "ty\n')
    with pytest.raises(ParseError, match=r"feed.jsonl, line 2: malformed JSON line"):
        parse_file(feed)
    feed.write_text('{"id": "e1", "type": "t"}\n{"type": "t"}\n')
    with pytest.raises(ParseError, match=r"feed.jsonl, line 2: event without 'id'"):
        parse_file(feed)
    hook = tmp_path / "hook.json"
    hook.write_text('{"headers": {}, "body": "{not json"}')
    with pytest.raises(ParseError, match="webhook body is not JSON"):
        parse_file(hook)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"id": "e1", "type": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ParseError, match=r"latin.jsonl, line 1, byte 26: not valid utf-8"):
        parse_file(latin)
