"""Marqeta against a sandbox ``transactions`` webhook (tests/fixtures/marqeta, from
gilbertotcc/marqeta-webhooks-models, MIT): an authorization hold that grows (incremental), shrinks
(partial reversal) and clears; a late redelivery is not applied twice; API paging."""

from __future__ import annotations

import copy
import json
import re

import pytest

from connectors.common.errors import ParseError
from connectors.marqeta import extract_transactions, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

SAMPLE = support.FIXTURES / "marqeta" / "gilbertotcc_webhook-event-transactions.json"
AUTH = "36d04781-d34f-4e0c-b895-2f1af976b565"


def _follow_up(kind: str, token: str, amount: str, state: str = "PENDING") -> dict:
    tx = copy.deepcopy(support.fixture("marqeta", SAMPLE.name)["transactions"][0])
    tx.update(type=kind, token=token, amount=amount, state=state, preceding_related_transaction_token=AUTH,
              created_time="2018-08-22T10:00:00Z")
    return tx


def _write(tmp_path, name, transactions):
    path = tmp_path / name
    path.write_text(support.dumps({"transactions": transactions}))
    return path


def test_sample_parses_to_a_hold_of_exact_minor_units():
    (record,) = parse_file(SAMPLE)
    assert record.fields["type"] == "card_hold" and record.fields["hold_delta"] == 1000  # 10 USD
    assert record.fields["user_token"] == "99f323d4-298f-4b0c-93b1-19b2d9921eb8"


def test_hold_grows_shrinks_and_clears(store, tmp_path):
    def run(path):
        result = ingest(store, "marqeta", files=[path])
        assert result.quarantined == 0, result.as_dict()
        return {k: (v["status"], v["debits"]) for k, v in support.ledger_transactions(store, "marqeta").items()}

    assert run(SAMPLE) == {f"marqeta:{AUTH}:hold:{AUTH}": ("pending", 1000)}
    txs = run(_write(tmp_path, "incr.json", [_follow_up("authorization.incremental", "inc-1", "5.00")]))
    assert txs == {f"marqeta:{AUTH}:hold:{AUTH}": ("archived", 1000), f"marqeta:{AUTH}:hold:inc-1": ("pending", 1500)}
    txs = run(_write(tmp_path, "rev.json", [_follow_up("authorization.reversal", "rev-1", "3.00")]))
    assert txs[f"marqeta:{AUTH}:hold:rev-1"] == ("pending", 1200)
    assert txs[f"marqeta:{AUTH}:hold:inc-1"] == ("archived", 1500)
    txs = run(_write(tmp_path, "clr.json", [_follow_up("authorization.clearing", "clr-1", "12.00", "COMPLETION")]))
    assert txs[f"marqeta:{AUTH}:hold:rev-1"] == ("posted", 1200)  # cleared what was held: the hold posts
    assert "marqeta:clr-1" not in txs
    assert [k for k, v in txs.items() if v[0] == "pending"] == []
    # A redelivery of the authorization, now COMPLETION, lands as a new version but is not applied again.
    late = json.loads(SAMPLE.read_text())
    late["transactions"][0]["state"] = "COMPLETION"
    txs = run(_write(tmp_path, "late.json", late["transactions"]))
    assert [k for k, v in txs.items() if v[0] == "pending"] == []
    support.assert_ledger_invariants(store)


def test_clearing_with_a_tip_archives_the_hold_and_posts_the_cleared_amount(store, tmp_path):
    ingest(store, "marqeta", files=[SAMPLE])
    ingest(store, "marqeta", files=[_write(tmp_path, "tip.json", [
        _follow_up("authorization.clearing", "clr-tip", "11.50", "COMPLETION")])])
    txs = {k: (v["status"], v["debits"]) for k, v in support.ledger_transactions(store, "marqeta").items()}
    assert txs == {f"marqeta:{AUTH}:hold:{AUTH}": ("archived", 1000), "marqeta:clr-tip": ("posted", 1150)}
    support.assert_ledger_invariants(store)


def test_authorization_and_clearing_in_one_delivery_post_once(store, tmp_path):
    auth = support.fixture("marqeta", SAMPLE.name)["transactions"][0]
    clearing = _follow_up("authorization.clearing", "clr-2", "10.00", "COMPLETION")
    ingest(store, "marqeta", files=[_write(tmp_path, "both.json", [auth, clearing])])
    txs = {k: (v["status"], v["debits"]) for k, v in support.ledger_transactions(store, "marqeta").items()}
    assert txs == {f"marqeta:{AUTH}:hold:{AUTH}": ("posted", 1000)}


def test_full_reversal_and_expiry_release_the_hold(store, tmp_path):
    ingest(store, "marqeta", files=[SAMPLE])
    ingest(store, "marqeta", files=[_write(tmp_path, "exp.json", [
        _follow_up("authorization.reversal.issuerexpiration", "exp-1", "10.00", "COMPLETION")])])
    assert [v["status"] for v in support.ledger_transactions(store, "marqeta").values()] == ["archived"]


def test_api_pages_by_start_index(httpserver):
    sample = support.fixture("marqeta", SAMPLE.name)["transactions"][0]
    items = [dict(sample, token=f"t{i}", created_time=f"2018-08-2{i}T00:00:00Z") for i in range(3)]
    calls = []

    def handler(request):
        start, count = int(request.args["start_index"]), int(request.args["count"])
        calls.append(start)
        page = items[start:start + count]
        return support.json_response({"count": len(page), "start_index": start, "end_index": start + len(page) - 1,
                                      "is_more": start + count < len(items), "data": page})

    httpserver.expect_request("/transactions").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), application_token="app", access_token="secret",
                     max_retries=0) as client:
        result = extract_transactions(client, None, page_size=2)
    assert calls == [0, 2]
    assert [r.object_id for r in result.records] == ["t0", "t1", "t2"]
    assert result.cursor == "2018-08-22T00:00:00+00:00"


def test_api_cursor_becomes_a_start_date(httpserver):
    calls = []

    def handler(request):
        calls.append(dict(request.args))
        return support.json_response({"count": 0, "start_index": 0, "end_index": 0, "is_more": False, "data": []})

    httpserver.expect_request("/transactions").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), application_token="app", access_token="s", max_retries=0) as client:
        result = extract_transactions(client, "2018-08-22T00:30:00+00:00")
    assert calls[0]["start_date"] == "2018-08-21" and calls[0]["sort_by"] == "createdTime"
    assert result.cursor == "2018-08-22T00:30:00+00:00"  # nothing new: the cursor stays


def test_api_clearing_weeks_after_its_authorization_posts_the_hold(store, httpserver):
    """Each step of a card transaction is a new Marqeta object with its own ``created_time``, so a clearing
    long after the authorisation is listed by the cursor however far it moved: nothing needs re-visiting."""
    served = [dict(support.fixture("marqeta", SAMPLE.name)["transactions"][0], created_time="2018-08-01T10:00:00Z")]
    days: list[str] = []

    def handler(request):
        day = request.args.get("start_date", "")
        days.append(day)
        page = [t for t in served if t["created_time"][:10] >= day]
        return support.json_response({"count": len(page), "start_index": 0, "end_index": len(page) - 1,
                                      "is_more": False, "data": page})

    httpserver.expect_request("/transactions").respond_with_handler(handler)

    def run():
        return ingest(store, "marqeta", api=True, base_url=httpserver.url_for(""))

    assert run().created == 1
    served.append(dict(served[0], token="other", preceding_related_transaction_token=None,
                       created_time="2018-08-20T10:00:00Z"))
    assert (run().created, days[-1]) == (1, "2018-08-01")
    clearing = _follow_up("authorization.clearing", "clr-late", "10.00", "COMPLETION")
    served.append(dict(clearing, created_time="2018-08-25T10:00:00Z"))
    cleared = run()
    assert (days[-1], cleared.landed, cleared.transitioned) == ("2018-08-20", 1, 1)
    assert support.ledger_transactions(store, "marqeta")[f"marqeta:{AUTH}:hold:{AUTH}"]["status"] == "posted"
    again = run()
    assert (again.landed, again.created, again.transitioned) == (0, 0, 0)
    support.assert_ledger_invariants(store)


def test_a_list_of_deliveries_is_read_and_errors_name_the_file(store, tmp_path):
    auth = support.fixture("marqeta", SAMPLE.name)
    deliveries = [auth, {"transactions": [_follow_up("authorization.clearing", "clr-0001", "10.00", "COMPLETION")]}]
    as_array = tmp_path / "deliveries.json"
    as_array.write_text(support.dumps(deliveries))
    as_object = tmp_path / "webhook_log.json"
    as_object.write_text(support.dumps({"deliveries": deliveries, "count": 2}))
    for path in (as_array, as_object):
        assert [(r.object_id, r.fields["type"]) for r in parse_file(path)] == [
            (AUTH, "card_hold"), ("clr-0001", "card_settlement")]
    result = ingest(store, "marqeta", files=[as_array])
    assert (result.landed, result.quarantined) == (2, 0)

    bad = copy.deepcopy(deliveries)
    bad[1]["transactions"][0]["amount"] = "10.001"
    path = tmp_path / "bad.json"
    path.write_text(support.dumps(bad))
    with pytest.raises(ParseError, match=rf"^{re.escape(str(path))}, delivery 2, transaction 1 \(clr-0001\): "):
        parse_file(path)
    no_token = tmp_path / "no_token.json"
    no_token.write_text(support.dumps([{"transactions": [{**deliveries[1]["transactions"][0], "token": None}]}]))
    with pytest.raises(ParseError, match=rf"^{re.escape(str(no_token))}, delivery 1, transaction 1 .*without token"):
        parse_file(no_token)
    mixed = tmp_path / "mixed.json"
    mixed.write_text(support.dumps([deliveries[0], {"event": "ping"}]))
    with pytest.raises(ParseError, match=rf"^{re.escape(str(mixed))}, delivery 2: "):
        parse_file(mixed)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(support.dumps({"cardholders": []}))
    with pytest.raises(ParseError, match=rf"^{re.escape(str(unknown))}: expected a transactions webhook"):
        parse_file(unknown)


def test_a_transaction_without_currency_is_refused_not_taken_as_usd(tmp_path):
    tx = support.fixture("marqeta", SAMPLE.name)["transactions"][0]
    tx.pop("currency_code")
    path = _write(tmp_path, "no_currency.json", [tx])
    with pytest.raises(ParseError, match=r"no_currency.json, transaction 1 .*without currency_code"):
        parse_file(path)
