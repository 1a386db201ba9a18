"""The DuckDB reader of large Stripe JSON-lines files (``connectors.stripe.fast``) reads and refuses exactly
what the row-by-row reader does.

``parse_file(..., fast_threshold=0)`` forces the fast path on a small file; ``fast_threshold=inf`` forces the
row-by-row one. ``fast.read_fast`` is the DuckDB reading alone (``None``: the file goes to the row-by-row
reader), so the differential test checks what DuckDB itself returns, not only the end result of a fallback.
The hypothesis seed is random per run and printed (``DIFFERENTIAL_SEED=<n>`` replays a run).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st

from connectors.common.errors import ParseError
from connectors.stripe import parse_file
from connectors.stripe.fast import read_fast
from ledger_pipeline.ingest.pipeline import ingest, to_records_table
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.conftest import pg_schema
from tests.differential.seed import SEED

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
BASE = json.loads((FIXTURES / "balance_transaction.json").read_text())
SLOW = {"fast_threshold": float("inf")}
FAST = {"fast_threshold": 0}


@pytest.fixture(autouse=True, scope="module")
def _print_seed(pytestconfig):
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    line = f"stripe fast path parity: hypothesis seed {SEED} (replay with DIFFERENTIAL_SEED={SEED})"
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)
    else:
        print(line)
    yield


def _bt(i: int, **changes) -> dict:
    obj = copy.deepcopy(BASE)
    obj.update(id=f"txn_{i:04d}", created=1_700_000_000 + i, available_on=1_700_100_000 + i)
    obj.update(changes)
    return obj


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def _canonical(text: str | None) -> str | None:
    return None if text is None else json.dumps(json.loads(text), sort_keys=True)


def _rows(parsed) -> list[dict]:
    """Records as comparable rows: the JSON columns by value (the fast path keeps the line as written)."""
    rows = to_records_table(parsed).to_pylist()
    for row in rows:
        row["raw_json"] = _canonical(row["raw_json"])
        row["fields_json"] = _canonical(row["fields_json"])
    return rows


def _outcome(path: Path, options: dict) -> tuple:
    try:
        return ("read", _rows(parse_file(path, **options)))
    except Exception as exc:  # the row-by-row reader's own errors, whatever they are, must match
        return ("refused", type(exc).__name__, str(exc))


def _assert_parity(path: Path, *, through_parse_file: bool = True) -> tuple:
    """The fast path's outcome is the row-by-row reader's; what DuckDB reads itself is what that reader reads.
    (``read_jsonl`` is ``read_fast`` or the row-by-row reader, so the generated batches check ``read_fast``
    alone, which halves their time.)"""
    slow = _outcome(path, SLOW)
    if through_parse_file:
        assert _outcome(path, FAST) == slow
    direct = read_fast(path)
    if direct is not None:
        assert slow[0] == "read", f"DuckDB read a file the row-by-row reader refuses: {slow}"
        assert _rows(direct) == slow[1]
    return slow, direct


# ---------------------------------------------------------------- the examples

@pytest.mark.parametrize(("field", "literal", "old_reading"), [
    ("amount", "100.5", 101), ("amount", "2.5", 3), ("fee", "0.4", 0), ("amount", '"0x10"', 16),
    ("amount", '"1e2"', 100), ("amount", "1e2", 100), ("net", "100.0", 100), ("amount", "true", None),
])
def test_a_non_integer_amount_is_refused_by_both_paths(tmp_path, field, literal, old_reading):
    good = json.dumps(_bt(1))
    bad = json.dumps(_bt(2, **{field: "@@"})).replace('"@@"', literal)
    path = _write(tmp_path / "bts.jsonl", [good, bad])
    with pytest.raises(ParseError) as slow:
        parse_file(path, **SLOW)
    assert "is not an integer of minor units" in str(slow.value)
    assert str(slow.value).startswith(f"{path}, line 2, object txn_0002: {field} ")
    with pytest.raises(ParseError) as fast:
        parse_file(path, **FAST)
    assert str(fast.value) == str(slow.value)
    assert read_fast(path) is None


@pytest.mark.parametrize("literal", ["100.5", "2.5", '"0x10"', '"1e2"'])
def test_a_non_integer_amount_posts_nothing_through_the_fast_path(store, tmp_path, literal):
    lines = [json.dumps(_bt(1)), json.dumps(_bt(2, amount="@@")).replace('"@@"', literal)]
    path = _write(tmp_path / "bts.jsonl", lines)
    with pytest.raises(ParseError, match=r"line 2, object txn_0002: amount .* is not an integer of minor units"):
        ingest(store, "stripe", files=[path], file_options=FAST)
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM raw_records") == 0
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 0


# ---------------------------------------------------------------- what the fast path reads itself

def _ordinary_batch() -> list[dict]:
    return [
        _bt(1),
        _bt(2, amount=-500, fee=0, net=-500, reporting_category="refund", type="refund"),
        _bt(3, source={"id": "ch_nested", "object": "charge"}, description="Caf\u00e9 \u2603 \U0001f600"),
        _bt(4, reporting_category="", fee=None, status="pending", currency="eur", amount=2**63 - 1,
            net=2**63 - 1),
        _bt(5, amount=-0, net=0, fee=0, reason="fraudulent", customer="cus_1", arrival_date=0,
            amount_refunded=7, payout={"id": "po_1"}, reporting_category=None, type="payout"),
        {k: v for k, v in _bt(6).items() if k not in ("created", "currency", "description", "type", "reporting_category")},
    ]


def test_ordinary_records_are_read_by_duckdb_as_the_row_by_row_reader_reads_them(tmp_path):
    objs = _ordinary_batch()
    lines = [json.dumps(o) for o in objs]
    lines[1] = json.dumps(objs[1], ensure_ascii=False, separators=(",", ":")).replace('"amount"', '"\\u0061mount"')
    lines[2] = json.dumps(objs[2], ensure_ascii=False)
    path = _write(tmp_path / "bts.jsonl", ["", *lines[:3], "  ", *lines[3:], ""], newline="\r\n")
    slow, direct = _assert_parity(path)
    assert direct is not None
    fields = {r["object_id"]: json.loads(r["fields_json"]) for r in slow[1]}
    assert fields["txn_0003"]["source_id"] == "ch_nested"
    assert fields["txn_0004"]["amount"] == 2**63 - 1 and "fee" not in fields["txn_0004"]
    assert fields["txn_0004"]["type"] == "charge" and fields["txn_0004"]["currency"] == "EUR"
    assert fields["txn_0005"]["amount"] == 0 and fields["txn_0005"]["type"] == "payout"
    assert fields["txn_0006"]["type"] is None and "currency" not in fields["txn_0006"]
    assert [r["record_ref"] for r in slow[1]] == [f"{path}, line {n}" for n in (2, 3, 4, 6, 7, 8)]


@pytest.mark.parametrize("change", [
    {"amount": 2**63}, {"amount": -(2**63) - 1}, {"amount": 10**30}, {"created": 1.5}, {"created": "1700000000"},
    {"currency": "stra\u00dfe"}, {"currency": 5}, {"id": ""}, {"id": 7}, {"object": "charge"},
    {"source": {"object": "charge"}}, {"status": 3}, {"type": ["charge"]}, {"description": {"a": 1}},
    {"net": -1},  # amount - fee != net: the row-by-row reader flags it gross_fee_net_mismatch
])
def test_values_duckdb_does_not_read_as_python_does_go_to_the_row_by_row_reader(tmp_path, change):
    path = _write(tmp_path / "bts.jsonl", [json.dumps(_bt(1)), json.dumps(_bt(2, **change))])
    _, direct = _assert_parity(path)
    assert direct is None


@pytest.mark.parametrize("line", [
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1,}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1, "x": nan}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1, "x": [1,]}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "amount": 100.5, "created": 1}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1, "description": "a\tb"}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1, "description": "\\ud800"}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1, "d": "\u2028"}',
    '{"id": "txn_2", "object": "balance_transaction", "amount": 1, "created": 1',
    '[1, 2]',
])
def test_lines_duckdb_and_json_loads_read_differently_go_to_the_row_by_row_reader(tmp_path, line):
    path = _write(tmp_path / "bts.jsonl", [json.dumps(_bt(1)), line])
    _, direct = _assert_parity(path)
    assert direct is None


# ---------------------------------------------------------------- differential, generated

RAW_LITERALS = [
    "100.5", "2.5", "0.4", "1e2", "1E2", "-0", "-0.0", "100.0", "0x10", "NaN", "Infinity", "-Infinity", "nan",
    "inf", "1.", "01", "+1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551616", "1" + "0" * 30, '"0x10"', '"1e2"', '"100"', '" 12 "',
    "true", "false", "null", "[]", "{}", '{"id": "ch_1"}', '{"id": null}', '{"id": "a", "id": "b"}', "[1,]",
    '"\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"', '"a\\u0000b"', '"usd"', '"USD"', '""', '"\u00df"',
    '"\\u0130"', '"balance_transaction"', '"charge"', "253402300799", "253402300800", "-1", "0",
]
RAW = "@@RAW{}@@"
KEYS = ["id", "object", "amount", "fee", "net", "amount_refunded", "currency", "created", "available_on",
        "arrival_date", "status", "description", "reason", "source", "customer", "reporting_category", "type",
        "balance_type"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["id", "x"]), inner, max_size=2),
    max_leaves=4)
#: what a key of a record becomes: left as is, removed, a raw JSON literal, a generated value
changes = st.one_of(st.just(("keep",)), st.just(("drop",)), st.tuples(st.just("raw"), st.sampled_from(RAW_LITERALS)),
                    st.tuples(st.just("value"), json_values))


@st.composite
def batches(draw):
    n = draw(st.integers(1, 5))
    lines = []
    for i in range(n):
        obj = _bt(i)
        raws = []
        # most records are ordinary, so that DuckDB reads many batches itself
        edits = draw(st.dictionaries(st.sampled_from(KEYS), changes, max_size=3)) if draw(st.booleans()) else {}
        for key, change in edits.items():
            if change[0] == "drop":
                obj.pop(key, None)
            elif change[0] == "raw":
                obj[key] = RAW.format(len(raws))
                raws.append(change[1])
            elif change[0] == "value":
                obj[key] = change[1]
        text = json.dumps(obj, ensure_ascii=draw(st.booleans()),
                          separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
        for k, literal in enumerate(raws):
            text = text.replace(json.dumps(RAW.format(k)), literal)
        mangle = draw(st.sampled_from(["none"] * 20 + ["truncate", "trailing_comma", "escaped_key", "dup_key",
                                                       "blank_before", "odd_unicode", "nul"]))
        if mangle == "truncate":
            text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
        elif mangle == "trailing_comma":
            text = text[:-1] + ",}"
        elif mangle == "escaped_key":
            text = text.replace('"fee"', '"\\u0066ee"', 1)
        elif mangle == "dup_key":
            text = text[:-1] + ', "amount": ' + draw(st.sampled_from(["5", "100.5", '"5"'])) + "}"
        elif mangle == "blank_before":
            lines.append(draw(st.sampled_from(["", " ", "\t", "\u00a0", "\r"])))
        elif mangle == "odd_unicode":
            odd = draw(st.sampled_from(["\u2028", "\u0085", "\ufeff", "\u200b", "\U0001f600", "\x1e", "\x7f"]))
            text = text.replace('"description": "', '"description": "' + odd, 1).replace(
                '"description":"', '"description":"' + odd, 1)
        elif mangle == "nul":
            text = text.replace('"description": "', '"description": "\\u0000', 1).replace(
                '"description":"', '"description":"\\u0000', 1)
        lines.append(text)
    return lines, draw(st.sampled_from(["\n", "\r\n"]))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("stripe_parity") / "bts.jsonl"


@seed(SEED)
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(batch=batches())
def test_generated_batches_read_and_refused_alike(scratch, batch):
    lines, newline = batch
    _write(scratch, lines, newline)
    slow, direct = _assert_parity(scratch, through_parse_file=False)
    event(f"row-by-row reader: {slow[0]}")
    event("read by DuckDB" if direct is not None else "sent to the row-by-row reader")


def test_the_printed_seed_is_the_one_used():
    assert test_generated_batches_read_and_refused_alike._hypothesis_internal_use_seed == SEED


# ---------------------------------------------------------------- end to end, both engines

def _other_store_url(store_url: str, tmp_path: Path, stack) -> str:
    if store_url.startswith("duckdb"):
        return f"duckdb:///{tmp_path / 'other.duckdb'}"
    return stack.enter_context(pg_schema())


def _posted(store: Store) -> dict:
    with store.connect() as conn:
        entries = conn.all("""
            SELECT t.external_id, t.status, a.name, e.direction, CAST(e.amount AS BIGINT), e.currency
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.ledger_transaction_id
            JOIN ledger_accounts a ON a.id = e.ledger_account_id ORDER BY 1, 3, 4, 5""")
        quarantine = conn.all("SELECT reason_code, external_id, record_ref FROM quarantine ORDER BY 3, 1")
        landed = conn.all("SELECT object_id, fields_json, record_ref FROM raw_records ORDER BY 1")
    return {"entries": [tuple(r) for r in entries], "quarantine": [tuple(r) for r in quarantine],
            "landed": [(o, _canonical(f), r) for o, f, r in landed]}


def test_both_paths_post_and_quarantine_the_same(store_url, tmp_path):
    import contextlib

    objs = _ordinary_batch()[:4] + [
        _bt(7, reporting_category="mystery_category", type="mystery"),
        {k: v for k, v in _bt(8).items() if k != "currency"},
        _bt(9, amount=1250, fee=None, net=1250, source={"id": "ch_9"}),
    ]
    path = _write(tmp_path / "bts.jsonl", [json.dumps(o) for o in objs])
    assert read_fast(path) is not None
    with contextlib.ExitStack() as stack:
        other = _other_store_url(store_url, tmp_path, stack)
        stores = {}
        for name, url, options in (("slow", store_url, SLOW), ("fast", other, FAST)):
            store = Store(url)
            initialize_store(store)
            result = ingest(store, "stripe", files=[path], file_options=options).as_dict()
            result.pop("batches")
            stores[name] = (result, _posted(store))
        assert stores["fast"] == stores["slow"]
        result, posted = stores["slow"]
        # three charges post; a fee of null, a missing currency and an unknown category are quarantined
        assert (result["created"], result["quarantined"]) == (3, 4)
        assert sorted(q[0] for q in posted["quarantine"]) == ["unmapped_field"] * 3 + ["unmapped_record_type"]


# ---------------------------------------------------------------- file names are not glob patterns

@pytest.mark.parametrize(("name", "decoys"), [
    ("g*.jsonl", ["g1.jsonl", "gx.jsonl"]),
    ("h[12].jsonl", ["h1.jsonl", "h2.jsonl"]),
    ("q?.jsonl", ["qa.jsonl"]),
    ("a{b,c}.jsonl", ["ab.jsonl", "ac.jsonl"]),
    ("x]{}[*?.jsonl", ["x].jsonl"]),
])
def test_the_fast_path_reads_exactly_the_named_file(tmp_path, name, decoys):
    for k, decoy in enumerate(decoys):
        _write(tmp_path / decoy, [json.dumps(_bt(100 + 10 * k + j)) for j in range(3)])
    path = _write(tmp_path / name, [json.dumps(_bt(j)) for j in range(2)])
    table = read_fast(path)
    assert table is not None
    assert table.column("object_id").to_pylist() == ["txn_0000", "txn_0001"]
    parsed = to_records_table(parse_file(path, **FAST))
    assert parsed.column("object_id").to_pylist() == ["txn_0000", "txn_0001"]

