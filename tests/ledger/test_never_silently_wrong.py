"""Inputs that must never post wrong money (issue 22): each is refused with a reason code, or read exactly
as given; on both engines."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.errors import InputError, RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_batch_file
from ledger_pipeline.ledger.quarantine import replay_quarantine
from ledger_pipeline.ledger.rules import EDGE_SPACE
from tests.ledger.conftest import amounts, counts, invariant_violations, post, reasons, tx


def _write_parquet(path, rows) -> None:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    pq.write_table(pa.table({n: pa.array([None if r.get(n) is None else str(r[n]) for r in rows], pa.string())
                             for n in names}), path)


def _posted_external_ids(store) -> set[str]:
    with store.connect() as conn:
        return {row[0] for row in conn.all("SELECT external_id FROM ledger_transactions")}


@pytest.mark.parametrize("name, decoys", [
    ("g*.parquet", ["g1.parquet", "g2.parquet"]),
    ("h[12].parquet", ["h1.parquet", "h2.parquet"]),
    ("q?.parquet", ["qa.parquet"]),
    ("c{1,2}.parquet", ["c1.parquet"]),
])
def test_parquet_file_name_is_not_a_glob(store, chart, tmp_path, name, decoys):
    for decoy in decoys:
        _write_parquet(tmp_path / decoy, tx(f"decoy-{decoy}", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00")))
    _write_parquet(tmp_path / name, tx("itself", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")))
    result = post_batch_file(store, tmp_path / name)
    assert (result.created, result.quarantined) == (1, 0)
    assert _posted_external_ids(store) == {"itself"}
    assert amounts(store) == {"cash": 200, "revenue": 200}
    assert invariant_violations(store) == []


def test_account_reference_naming_one_account_id_and_another_name_is_ambiguous(store, chart):
    key = chart["cash"]  # cash's id is the name of another account
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec(name=key, normal_balance="credit", currency="USD"))
    result = post(store, [
        *tx("ambiguous", (key, "debit", "1.00"), ("revenue", "credit", "1.00")),
        *tx("by-id", (chart["revenue"], "credit", "3.00"), ("cash", "debit", "3.00")),
    ])
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"ambiguous": {"ambiguous_account"}}
    assert _posted_external_ids(store) == {"by-id"}
    assert amounts(store) == {"cash": 300, "revenue": 300}
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": 1}
    assert invariant_violations(store) == []


def test_a_single_write_resolves_account_references_as_a_batch_does(store, chart):
    """A writer's connection looks each account reference up row by row on PostgreSQL, a batch joins a set of
    account keys: by id, by name, ambiguous (one account's id, another's name), unknown, or an account of
    another ledger, a single write and a batch resolve it alike."""
    from ledger_pipeline.ledger.accounts import ensure_ledger

    key = chart["cash"]
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec(name=key, normal_balance="credit", currency="USD"))
        ensure_ledger(conn, "other")
        elsewhere = ensure_account(conn, "other", AccountSpec(name="elsewhere", normal_balance="debit", currency="USD"))
    references = {"by-id": chart["revenue"], "by-name": "revenue", "ambiguous": key, "unknown": "nobody",
                  "other-ledger": elsewhere, "other-ledger-name": "elsewhere"}
    batch = reasons(post(store, [row for case, ref in references.items()
                                 for row in tx(f"batch-{case}", ("cash", "debit", "1.00"), (ref, "credit", "1.00"))]))
    single: dict[str, set[str]] = {}
    with open_writer(store, group_commit=False) as writer:
        for case, ref in references.items():
            try:
                writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput(ref, "credit", 100)],
                                             external_id=f"single-{case}"))
                single[case] = set()
            except RuleViolation as exc:
                single[case] = set(exc.reason_codes)
    assert single == {case: batch.get(f"batch-{case}", set()) for case in references}
    assert single["by-id"] == single["by-name"] == set()
    assert single["ambiguous"] == {"ambiguous_account"}
    assert "unknown_account" in single["unknown"] & single["other-ledger"] & single["other-ledger-name"]
    assert amounts(store)["revenue"] == 400  # two by the batch, two by the single writes
    assert invariant_violations(store) == []


def test_a_transaction_overflowing_a_balance_is_refused_alone(store, chart):
    nines = "9" * 38
    post(store, [{"external_id": "max", "account": "points_pool", "direction": "debit", "amount_minor": nines},
                 {"external_id": "max", "account": "points", "direction": "credit", "amount_minor": nines}])
    result = post(store, [
        *tx("neighbour", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00")),
        {"external_id": "one-more", "account": "points_pool", "direction": "debit", "amount_minor": "1"},
        {"external_id": "one-more", "account": "points", "direction": "credit", "amount_minor": "1"},
        *tx("after", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")),
    ])
    assert (result.created, result.quarantined) == (2, 1)
    assert reasons(result) == {"one-more": {"balance_overflow"}}
    assert amounts(store) == {"cash": 300, "revenue": 300, "points": int(nines), "points_pool": int(nines)}
    assert counts(store) == {"ledger_transactions": 3, "ledger_entries": 6, "quarantine": 1}
    assert invariant_violations(store) == []


@pytest.mark.parametrize("field", ["description", "external_id", "metadata", "source"])
def test_nul_byte_is_refused_and_quarantined(store, chart, field):
    bad = tx("bad", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"))
    bad[0][field] = {"metadata": '{"k": "a\x00b"}', "external_id": "bad"}.get(field, "a\x00b")
    if field == "external_id":
        bad[0][field] = bad[1][field] = "b\x00ad"
    result = post(store, [*tx("ok", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")), *bad])
    assert (result.created, result.quarantined) == (1, 1)
    assert {code for codes in reasons(result).values() for code in codes} >= {"invalid_text"}
    assert _posted_external_ids(store) == {"ok"}
    assert counts(store)["quarantine"] == 1
    assert invariant_violations(store) == []


def test_nul_byte_in_parquet_is_refused_and_quarantined(store, chart, tmp_path):
    path = tmp_path / "nul.parquet"
    _write_parquet(path, [*tx("ok", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")),
                          *tx("bad", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), description="a\x00b")])
    result = post_batch_file(store, path)
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"bad": {"invalid_text"}}
    assert _posted_external_ids(store) == {"ok"}


@pytest.mark.parametrize("metadata", ["{bad json", "[1,2]", '"text"', "1", "null",
                                      # a NUL escaped in JSON: PostgreSQL's jsonb cannot hold it, so no engine keeps it
                                      '{"k":"a\\u0000b"}', '{"\\u0000":1}', '{"k":"\\\\\\u0000"}',
                                      # a key twice: DuckDB reads the first value, jsonb keeps the last
                                      '{"k":1,"k":2}', '{"k":1, "a":{}, "k":1}'])
def test_metadata_must_be_a_json_object(store, chart, metadata):
    result = post(store, [*tx("ok", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00"), metadata='{"a": [1]}'),
                          *tx("bad", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=metadata)])
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"bad": {"invalid_metadata"}}
    assert _posted_external_ids(store) == {"ok"}


def test_metadata_differing_only_in_json_whitespace_is_the_same_payload(store, chart):
    first = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata='{"k":1}'))
    again = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata='{ "k" : 1 }'))
    assert first.created == 1
    assert (again.created, again.duplicates, again.quarantined) == (0, 1, 0)
    with store.connect() as conn:
        stored = conn.scalar("SELECT metadata FROM ledger_transactions")
    assert stored in ('{"k":1}', '{"k": 1}')  # one canonical text per engine
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": 0}


def test_an_escaped_backslash_before_u0000_is_no_nul(store, chart):
    result = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata='{"k":"\\\\u0000"}'))
    assert result.created == 1
    with store.connect() as conn:
        assert json.loads(conn.scalar("SELECT metadata FROM ledger_transactions")) == {"k": "\\u0000"}


def test_two_groups_of_one_external_id_are_refused_not_merged(store, chart):
    group = tx("twice", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"))
    result = post(store, [*group, *tx("between", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")), *group])
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"twice": {"duplicate_external_id_in_batch"}}
    assert _posted_external_ids(store) == {"between"}
    assert amounts(store) == {"cash": 200, "revenue": 200}
    # adjacent groups that differ in a header field are not one transaction either
    result = post(store, [*tx("split", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), description="a"),
                          *tx("split", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), description="b")])
    assert result.created == 0 and reasons(result) == {"split": {"inconsistent_transaction"}}
    assert invariant_violations(store) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_columns_differing_only_in_case_are_an_input_error(store, chart, tmp_path, suffix):
    path = tmp_path / f"cols{suffix}"
    header = ["external_id", "account", "direction", "amount", "Amount"]
    rows = [["t", "cash", "debit", "1.00", "9.00"], ["t", "revenue", "credit", "1.00", "9.00"]]
    if suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    else:
        pq.write_table(pa.table([pa.array([r[i] for r in rows]) for i in range(len(header))], names=header), path)
    with pytest.raises(InputError, match="'amount' and 'Amount'"):
        post_batch_file(store, path)
    assert counts(store) == {"ledger_transactions": 0, "ledger_entries": 0, "quarantine": 0}


def test_amount_and_amount_minor_that_disagree_are_refused(store, chart):
    rows = [{"external_id": "agree", "account": "cash", "direction": "debit", "amount": "1.50", "amount_minor": "150"},
            {"external_id": "agree", "account": "revenue", "direction": "credit", "amount": "1.5", "amount_minor": "150"},
            {"external_id": "differ", "account": "cash", "direction": "debit", "amount": "1.00", "amount_minor": "900"},
            {"external_id": "differ", "account": "revenue", "direction": "credit", "amount": "1.00",
             "amount_minor": "900"}]
    result = post(store, rows)
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"differ": {"conflicting_amounts"}}
    assert amounts(store) == {"cash": 150, "revenue": 150}


def test_a_transaction_is_reversed_once(store, chart):
    post(store, tx("sale", ("cash", "debit", "5.00"), ("revenue", "credit", "5.00")))
    with open_writer(store) as writer:
        writer.reverse("sale")
        assert writer.reverse("sale").action == "noop"  # the same reversal again
        with pytest.raises(RuleViolation) as twice:
            writer.reverse("sale", external_id="sale:reversal2")
    assert twice.value.reason_codes == ["already_reversed"]
    assert amounts(store) == {}
    with store.connect() as conn:
        sale_id = conn.scalar("SELECT id FROM ledger_transactions WHERE external_id = 'sale'")
    result = post(store, [*tx("csv-reversal", ("cash", "credit", "5.00"), ("revenue", "debit", "5.00"),
                              reverses_id=sale_id),
                          *tx("nowhere", ("cash", "credit", "1.00"), ("revenue", "debit", "1.00"),
                              reverses_id="no-such-transaction")])
    assert result.created == 0
    assert reasons(result) == {"csv-reversal": {"already_reversed"}, "nowhere": {"unknown_reversal_target"}}
    assert counts(store) == {"ledger_transactions": 2, "ledger_entries": 4, "quarantine": 2}
    assert invariant_violations(store) == []


def test_a_quarantined_duplicate_group_is_refused_again_on_replay(store, chart):
    group = tx("twice", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"))
    post(store, [*group, *tx("between", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00")), *group])
    result = replay_quarantine(store)
    assert (result.created, result.replayed) == (0, 0)
    assert reasons(result) == {"twice": {"duplicate_external_id_in_batch"}}
    assert amounts(store) == {"cash": 200, "revenue": 200}
    assert counts(store)["quarantine"] == 1


def test_an_empty_external_id_is_refused_by_a_single_write_as_in_a_file(store, chart):
    """Only an absent external_id is generated by a single write; an empty one is missing, as in a file."""
    with open_writer(store) as writer:
        with pytest.raises(RuleViolation) as refused:
            writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput("revenue", "credit", 100)],
                                         external_id=""))
        generated = writer.post(TransactionInput([EntryInput("cash", "debit", 100),
                                                  EntryInput("revenue", "credit", 100)]))
    in_a_file = post(store, tx("", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00")))
    assert "missing_field" in refused.value.reason_codes
    assert set(refused.value.reason_codes) == {v.reason_code for v in in_a_file.violations}
    assert generated.external_id.startswith("api:")
    assert amounts(store) == {"cash": 100, "revenue": 100}


def _store_as_legacy(store, metadata_text: str) -> None:
    """Rewrite the stored transaction as one written before metadata was canonicalised: its metadata in the
    text it was given, its payload hash of that text (any other value than today's)."""
    with store.transaction() as conn:
        conn.execute("UPDATE ledger_transactions SET metadata = :m, payload_hash = md5(:m)", {"m": metadata_text})


@pytest.mark.parametrize("legacy", ['{ "k" : 1,  "j": [1, 2] }', '{"k":1,"j":[1,2]}'])
def test_a_resubmission_over_metadata_stored_in_an_older_form_is_recognised(store, chart, legacy):
    """The same content again is a no-op, other content a conflict, a pending one becomes posted."""
    def submit(metadata: str, status: str = "pending"):
        return post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=metadata,
                              status=status, effective_at="2024-01-02T00:00:00Z"))

    assert submit('{"k": 1, "j": [1, 2]}').created == 1
    _store_as_legacy(store, legacy)
    same = submit('{"k":1,"j":[1,2]}')
    assert (same.created, same.duplicates, same.quarantined) == (0, 1, 0)
    other = submit('{"k":2,"j":[1,2]}')
    assert reasons(other) == {"t": {"external_id_conflict"}}
    posted = submit('{"k": 1, "j": [1, 2]}', status="posted")
    assert (posted.transitioned, posted.quarantined) == (1, 0)
    assert amounts(store) == {"cash": 100, "revenue": 100}
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": 1}


def test_key_order_in_stored_metadata_is_no_conflict(store, chart):
    assert post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"),
                          metadata='{"a": 1, "b": 2}')).created == 1
    _store_as_legacy(store, '{"b":2,"a":1}')
    again = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata='{"a":1,"b":2}'))
    assert (again.duplicates, again.quarantined) == (1, 0)


NESTED = '{"z": {"b": [1, {"y": true, "x": null}], "a": "A"}, "a": 1.5, "m": {}}'
REORDERED = '{"m":{},"a":1.5,"z":{"a":"\\u0041","b":[1,{"x":null,"y":true}]}}'


def _stored_metadata(store) -> dict:
    with store.connect() as conn:
        return {k: json.loads(v) for k, v in conn.all("SELECT external_id, metadata FROM ledger_transactions")}


def test_metadata_that_differs_only_in_key_order_at_any_depth_is_the_same_payload(store, chart):
    """Resubmitted with the keys of every object in another order: a no-op on both engines, in a file and by
    a single write; rows of one transaction may give them in different orders; array order still counts."""
    assert post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=NESTED)).created == 1
    again = post(store, [*tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=REORDERED),
                         *tx("u", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"))])
    assert (again.created, again.duplicates, again.quarantined) == (1, 1, 0)
    rows = tx("v", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=NESTED)
    rows[1]["metadata"] = REORDERED
    assert post(store, rows).created == 1
    with open_writer(store) as writer:
        single = writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput("revenue", "credit", 100)],
                                              external_id="t", metadata=json.loads(REORDERED)))
    assert single.action == "noop"
    array_order = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"),
                                 metadata=NESTED.replace('[1, {"y": true, "x": null}]', '[{"y": true, "x": null}, 1]')))
    assert reasons(array_order) == {"t": {"external_id_conflict"}}
    stored = _stored_metadata(store)
    assert stored["t"] == stored["v"] == json.loads(NESTED)
    assert amounts(store) == {"cash": 300, "revenue": 300}


@pytest.mark.parametrize("metadata", ['{"a": {"k": 1, "k": 2}}', '{"a": [{"k": 1, "j": 0, "k": 1}]}'])
def test_a_key_named_twice_in_a_nested_object_is_refused(store, chart, metadata):
    """jsonb would keep the last value and DuckDB read the first: neither engine guesses."""
    result = post(store, tx("t", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), metadata=metadata))
    assert reasons(result) == {"t": {"invalid_metadata"}}
    assert counts(store)["ledger_transactions"] == 0


EDGE_SPACED = ["txn2 ", " txn2", "txn2\t", "\u00a0txn2", "txn2\u3000", "\ufefftxn2"]


def _csv_text(rows) -> str:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    quoted = [",".join('"' + str(row.get(n, "")).replace('"', '""') + '"' for n in names) for row in rows]
    return "\n".join([",".join(names), *quoted]) + "\n"


def test_the_edge_space_check_refuses_exactly_what_python_calls_white_space(store, chart):
    """Every character Python's ``str.isspace`` calls white space, and the byte order mark, refuses an
    external_id at either end and nowhere else; characters beside them (zero-width space, other controls,
    a letter, an accented one, an emoji) do not."""
    candidates = sorted({*EDGE_SPACE, "\u200b", "\u2060", "\x00", "\x1b", "\x7f", "a", "\u00e9", "\U0001f600", "\u180e"})
    spaced = {ch for ch in candidates if ch.isspace() or ch == "\ufeff"}
    assert spaced == set(EDGE_SPACE)
    rows, expected = [], {}
    for i, ch in enumerate(ch for ch in candidates if ch != "\x00"):  # NUL is refused as invalid_text first
        for j, xid in enumerate((f"{ch}e{i}", f"e{i}{ch}", f"e{i}{ch}x")):
            amount = f"{i * 3 + j + 1}.00"
            rows += tx(xid, ("cash", "debit", amount), ("revenue", "credit", amount))
            if ch in spaced and j < 2:
                expected[xid] = {"invalid_external_id"}
    result = post(store, rows)
    assert reasons(result) == expected
    assert result.created == len(rows) // 2 - len(expected)


def test_an_external_id_with_white_space_at_an_end_is_refused_on_every_path(store, chart, tmp_path):
    """"txn2 " is neither "txn2" nor a transaction of its own: a file (CSV, Parquet), a single write and a
    replay all refuse it (invalid_external_id) and post "txn2" as given."""
    rows = [row for i, xid in enumerate(["txn2", *EDGE_SPACED])
            for row in tx(xid, ("cash", "debit", f"{i + 1}.00"), ("revenue", "credit", f"{i + 1}.00"))]
    (tmp_path / "b.csv").write_text(_csv_text(rows), encoding="utf-8")
    _write_parquet(tmp_path / "b.parquet", rows)
    by_csv = post_batch_file(store, tmp_path / "b.csv")
    by_parquet = post_batch_file(store, tmp_path / "b.parquet")
    assert (by_csv.created, by_csv.quarantined) == (1, len(EDGE_SPACED))
    assert (by_parquet.created, by_parquet.duplicates, by_parquet.quarantined) == (0, 1, len(EDGE_SPACED))
    for result in (by_csv, by_parquet):
        assert reasons(result) == {xid: {"invalid_external_id"} for xid in EDGE_SPACED}
    with open_writer(store) as writer:
        for xid in EDGE_SPACED:
            with pytest.raises(RuleViolation) as refused:
                writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput("revenue", "credit", 100)],
                                             external_id=xid))
            assert refused.value.reason_codes == ["invalid_external_id"]
        assert writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput("revenue", "credit", 100)],
                                            external_id="txn2")).action == "noop"
    replayed = replay_quarantine(store)
    assert (replayed.created, replayed.replayed) == (0, 0)
    assert set(reasons(replayed)) == set(EDGE_SPACED)
    assert _posted_external_ids(store) == {"txn2"}
    assert amounts(store) == {"cash": 100, "revenue": 100}
