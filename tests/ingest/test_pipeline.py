"""The ingest pipeline: unknown types and missing fields go to quarantine and replay after the mapping is
fixed; a changed version of an object moves pending -> posted; events map by rules; nothing is dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from connectors.common.records import RawRecord, records_to_arrow
from ledger_pipeline import paths
from ledger_pipeline.ingest.mapping import MappingError, load_mapping, parse_mapping
from ledger_pipeline.ingest.pipeline import ingest, replay_unmapped
from ledger_pipeline.ledger.quarantine import replay_quarantine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EVENTS = FIXTURES / "events" / "wallet_events.jsonl"


def _q(store):
    with store.connect() as conn:
        return conn.dicts("SELECT external_id, reason_code, reason, status, attempts, record_ref, raw_payload "
                          "FROM quarantine ORDER BY external_id")


def test_events_map_by_rules_and_unknown_types_are_quarantined_then_replayed(store, tmp_path):
    result = ingest(store, "events", files=[EVENTS, FIXTURES / "events" / "webhook_delivery.json"])
    assert (result.landed, result.created, result.ignored, result.unmapped) == (7, 5, 1, 1)
    (item,) = _q(store)
    assert (item["external_id"], item["reason_code"], item["status"]) == ("events:evt_006", "unmapped_record_type", "open")
    assert "wallet.gift_card" in item["reason"] and item["record_ref"].endswith("wallet_events.jsonl, line 6")
    assert json.loads(item["raw_payload"])["ingest_record"]["raw"]["data"]["amount"] == 1000
    with store.connect() as conn:
        wallets = dict(conn.all(
            "SELECT a.name, CAST(b.posted_credits - b.posted_debits AS BIGINT) FROM ledger_account_balances b "
            "JOIN ledger_accounts a ON a.id = b.ledger_account_id WHERE a.name LIKE 'events:wallet:%'"))
    assert wallets == {"events:wallet:u_1:USD": 10000 - 2599 - 5000, "events:wallet:u_2:JPY": 700000,
                       "events:wallet:u_9:EUR": 1234}
    # the core's replay leaves ingest items alone; ingest's replay maps them with the fixed mapping
    assert replay_quarantine(store).transactions_in == 0
    fixed = yaml.safe_load(load_mapping_text("events.yaml"))
    fixed["accounts"]["promotions"] = {"name": "events:promotions:{currency}", "normal_balance": "debit"}
    fixed["templates"].append({"type": "wallet.gift_card", "effective_at": "created_at", "entries": [
        {"account": "promotions", "direction": "debit", "amount": "data.amount"},
        {"account": "wallets", "direction": "credit", "amount": "data.amount"}]})
    path = tmp_path / "events.yaml"
    path.write_text(yaml.safe_dump(fixed))
    replayed = replay_unmapped(store, mapping=str(path))["events"]
    assert (replayed.created, replayed.replayed) == (1, 1)
    (item,) = _q(store)
    assert item["status"] == "replayed"
    assert replay_unmapped(store, mapping=str(path)) == {}
    again = ingest(store, "events", files=[EVENTS])
    assert (again.landed, again.created, again.unmapped) == (0, 0, 0)


def load_mapping_text(name: str) -> str:
    from ledger_pipeline import paths

    return (paths.MAPPINGS_DIR / name).read_text()


def _bt(object_id: str, status: str, amount="1000", **extra) -> RawRecord:
    fields = {"type": "charge", "amount": amount, "fee": 30, "net": 970 if amount == "1000" else None,
              "currency": "USD", "created": "2024-01-01T00:00:00+00:00", "status": status, "source_id": "ch_1",
              **extra}
    return RawRecord("stripe", "balance_transactions", object_id, "1704067200",
                     {"id": object_id, "status": status, "amount": amount}, fields)


def test_pending_then_available_is_a_transition_and_missing_fields_are_quarantined(store, monkeypatch):
    from connectors import stripe

    batches = [[_bt("txn_1", "pending"), _bt("txn_2", "available", amount="12.5")],
               [_bt("txn_1", "available")]]
    monkeypatch.setattr(stripe, "parse_file", lambda path, **kw: records_to_arrow(batches[int(path.name)]))
    first = ingest(store, "stripe", files=[Path("0")])
    assert (first.created, first.unmapped) == (1, 1)
    (item,) = _q(store)
    assert item["reason_code"] == "unmapped_field" and "net" in item["reason"] and "amount" in item["reason"]
    with store.connect() as conn:
        assert conn.scalar("SELECT status FROM ledger_transactions WHERE external_id = 'stripe:txn_1'") == "pending"
    second = ingest(store, "stripe", files=[Path("1")])
    assert (second.landed, second.transitioned, second.created) == (1, 1, 0)
    with store.connect() as conn:
        assert conn.scalar("SELECT status FROM ledger_transactions WHERE external_id = 'stripe:txn_1'") == "posted"
        assert conn.scalar("SELECT count(*) FROM raw_records WHERE object_id = 'txn_1'") == 2  # both versions


def test_mapping_validation_names_the_problem():
    with pytest.raises(MappingError, match="not in the chart of accounts"):
        parse_mapping({"source": "x", "accounts": {}, "templates": [
            {"type": "t", "entries": [{"account": "a", "direction": "debit", "amount": "v"},
                                      {"account": "b", "direction": "credit", "amount": "v"}]}]})
    with pytest.raises(MappingError, match="must contain \\{currency\\}"):
        parse_mapping({"source": "x", "accounts": {"a": {"name": "cash", "normal_balance": "debit"}}})
    with pytest.raises(MappingError, match="not a valid field name"):
        parse_mapping({"source": "x", "accounts": {"a": {"name": "a:{currency}", "normal_balance": "debit"}},
                       "templates": [{"type": "t", "effective_at": "x'; DROP TABLE y; --", "entries": [
                           {"account": "a", "direction": "debit", "amount": "v"},
                           {"account": "a", "direction": "credit", "amount": "v"}]}]})
    for name in ("stripe.yaml", "adyen.yaml", "events.yaml"):
        assert load_mapping(name).templates


def test_a_mapping_is_parsed_once_per_text_and_an_edited_file_is_read_again(tmp_path):
    path = tmp_path / "stripe.yaml"
    text = (paths.MAPPINGS_DIR / "stripe.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = load_mapping(path)
    assert load_mapping(path) is first  # the same text: not parsed again
    path.write_text(text.replace("\nledger: main\n", "\nledger: edited\n"), encoding="utf-8")
    assert (first.ledger, load_mapping(path).ledger) == ("main", "edited")


def test_one_bad_file_among_good_ones_writes_nothing(store):
    from connectors.common.errors import ParseError

    good = FIXTURES / "bank" / "bai2" / "eod.bai2"
    bad = FIXTURES / "bank" / "bai2" / "invalid_checksum_eod.bai2"
    with pytest.raises(ParseError, match=r"invalid_checksum_eod.bai2, line 15"):
        ingest(store, "bank", files=[good, bad])
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM raw_records") == 0
    landed = ingest(store, "bank", files=[good])
    assert (landed.landed, landed.created) == (2, 0)  # one line, one balance record; statements are not posted


def test_repeated_records_in_one_input_land_once_and_the_latest_version_is_mapped(store, monkeypatch):
    from connectors import stripe

    batch = [_bt("txn_9", "pending"), _bt("txn_9", "pending"), _bt("txn_9", "available")]
    monkeypatch.setattr(stripe, "parse_file", lambda path, **kw: records_to_arrow(batch))
    result = ingest(store, "stripe", files=[Path("x")])
    assert (result.records_in, result.landed, result.created) == (3, 2, 1)
    with store.connect() as conn:
        assert conn.scalar("SELECT status FROM ledger_transactions WHERE external_id = 'stripe:txn_9'") == "posted"


def test_a_write_between_reading_and_writing_sends_the_ingest_back_to_one_transaction(duckdb_url, monkeypatch):
    """On a DuckDB file the ingest reads (new records, mapping, staging) before its writing transaction. A
    write by another connection in between (one that bypassed the store's write lock) is noticed: the
    ingest then runs in one transaction, with the same counts and nothing landed or posted twice."""
    from ledger_pipeline.ingest import pipeline
    from ledger_pipeline.ledger import batch_post
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, post_transaction
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    store = Store(duckdb_url)
    initialize_store(store)
    reads: list[bool] = []  # before_write of each reading of the ingest's records
    original_read = pipeline._LandMapPost.read
    original_prepare = batch_post._stage_first

    def prepare_then_intervene(conn, request):
        prepared = original_prepare(conn, request)
        # the same external_id as the file's first wallet event, with other content
        post_transaction(store, TransactionInput(
            [EntryInput("events:cash:USD", "debit", 1), EntryInput("events:wallet:u_1:USD", "credit", 1)],
            external_id="events:evt_001"))
        return prepared

    def read(self, conn, *, before_write):
        reads.append(before_write)
        return original_read(self, conn, before_write=before_write)

    monkeypatch.setattr(batch_post, "_stage_first", prepare_then_intervene)
    monkeypatch.setattr(pipeline._LandMapPost, "read", read)
    result = ingest(store, "events", files=[EVENTS])
    with store.connect() as conn:  # the intervening write was seen: no second transaction of the same id
        assert conn.scalar("SELECT count(*) FROM ledger_transactions WHERE external_id = 'events:evt_001'") == 1
        assert conn.scalar("SELECT count(*) FROM raw_records") == result.landed == result.records_in
    assert reads == [True, False]  # the staged reading gave way to one inside the writing transaction
    assert result.reason_counts == {"external_id_conflict": 1}
    assert (result.created, result.quarantined) == (4 - 1, 1 + 1)  # evt_001 refused as a conflict
    again = ingest(store, "events", files=[EVENTS])
    assert (again.landed, again.created) == (0, 0)


def test_an_undisturbed_ingest_on_duckdb_writes_once_outside_the_staging(duckdb_url, monkeypatch):
    from ledger_pipeline.ingest import pipeline
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    store = Store(duckdb_url)
    initialize_store(store)
    reads: list[bool] = []  # before_write of each reading of the ingest's records
    original_read = pipeline._LandMapPost.read

    def read(self, conn, *, before_write):
        reads.append(before_write)
        return original_read(self, conn, before_write=before_write)

    monkeypatch.setattr(pipeline._LandMapPost, "read", read)
    result = ingest(store, "events", files=[EVENTS])
    assert reads == [True]
    assert (result.landed, result.created, result.unmapped) == (6, 4, 1)


def test_landing_in_two_halves_without_a_kept_copy_lands_once(store):
    """``plan_landing(keep=False)`` + ``commit_landing(landed=...)`` (the staged ingest's landing), on both
    engines: a record repeated in the input lands once, and the same input again finds nothing new."""
    from ledger_pipeline.ingest.landing import commit_landing, plan_landing

    records = records_to_arrow([
        RawRecord("events", "events", "evt_a", None, {"id": "evt_a", "amount": 1}, {}),
        RawRecord("events", "events", "evt_b", None, {"id": "evt_b", "amount": 2}, {}),
        RawRecord("events", "events", "evt_a", None, {"id": "evt_a", "amount": 1}, {}),
    ])
    with store.transaction() as conn:
        landed = plan_landing(conn, records, keep=False)
        commit_landing(conn, batch_id="b1", seq=conn.change_seq(), landed=landed)
    assert landed.column("object_id").to_pylist() == ["evt_a", "evt_b"]
    with store.transaction() as conn:
        assert plan_landing(conn, records, keep=False).num_rows == 0
        assert conn.scalar("SELECT count(*) FROM raw_records") == 2


def test_a_nul_in_a_field_that_names_an_account_is_quarantined_not_a_crash(store, tmp_path):
    """A currency holding a NUL byte would name an account no PostgreSQL store keeps: the record is refused
    (invalid_text) and quarantined on both engines, and its neighbour posts."""
    base = json.loads((FIXTURES / "stripe" / "balance_transaction.json").read_text())
    lines = [json.dumps(dict(base, id="txn_good")), json.dumps(dict(base, id="txn_nul", currency="u\u0000d"))]
    path = tmp_path / "bts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(store, "stripe", files=[path])
    assert (result.created, result.quarantined) == (1, 1)
    with store.connect() as conn:
        assert conn.all("SELECT external_id, reason_code FROM quarantine") == [("stripe:txn_nul", "invalid_text")]
        names = [name for (name,) in conn.all("SELECT name FROM ledger_accounts WHERE name LIKE 'stripe:%'")]
    assert names and all(name.endswith(":USD") for name in names), names


def test_a_nul_in_a_record_type_or_object_id_is_quarantined_not_a_crash(store, tmp_path):
    """A NUL byte in what lands as a column of its own (record type, object id) lands as U+FFFD on both
    engines: the record is quarantined, its neighbour posts."""
    base = json.loads((FIXTURES / "stripe" / "balance_transaction.json").read_text())
    lines = [json.dumps(dict(base, id="txn_good")), json.dumps(dict(base, id="txn_type", reporting_category="c\u0000")),
             json.dumps(dict(base, id="txn_\u0000id"))]
    path = tmp_path / "bts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(store, "stripe", files=[path])
    assert (result.created, result.quarantined) == (1, 2)
    with store.connect() as conn:
        assert sorted(conn.all("SELECT external_id, reason_code FROM quarantine")) == [
            ("stripe:txn_type", "unmapped_record_type"), ("stripe:txn_\ufffdid", "invalid_text")]


def test_a_replayed_record_with_a_zero_amount_entry_posts_as_a_direct_ingest_does(store, tmp_path):
    """A zero fee leaves its entry out; the record's other entries stay one group of rows when it is replayed
    from quarantine (a gap between them read as two groups refused it: duplicate_external_id_in_batch)."""
    import dataclasses

    rules = load_mapping("stripe.yaml")
    nothing = dataclasses.replace(rules, templates=tuple(dataclasses.replace(t, types=("none",))
                                                         for t in rules.templates))
    base = json.loads((FIXTURES / "stripe" / "balance_transaction.json").read_text())
    path = tmp_path / "bts.jsonl"
    path.write_text(json.dumps(dict(base, id="txn_zero_fee", fee=0)) + "\n")
    assert ingest(store, "stripe", files=[path], mapping=nothing).quarantined == 1
    assert replay_unmapped(store, source="stripe")["stripe"].created == 1
    with store.connect() as conn:
        assert conn.all("SELECT status FROM quarantine") == [("replayed",)]
        assert conn.scalar("SELECT count(*) FROM ledger_entries") == 2
