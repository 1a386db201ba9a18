"""Reading batches: bad files are an InputError naming the file (and line where possible) and nothing is
written; good CSV and Parquet files (decimal, int64, timestamp and dictionary columns) post exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_pipeline.ledger.batch_input import normalise_entries, parquet_source, read_entries_file
from ledger_pipeline.ledger.errors import InputError
from ledger_pipeline.ledger.posting import post_batch, post_batch_file
from tests.ledger.conftest import amounts, counts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ledger"
HEADER = "external_id,account,direction,amount,effective_at,description\n"
GOOD = ("t1,cash,debit,10.50,2024-01-01T00:00:00Z,first\n"
        "t1,revenue,credit,10.50,2024-01-01T00:00:00Z,first\n")


def post_file(store, path):
    """What ``ledger-pipeline post FILE`` does. A Parquet file posted into a DuckDB store is read by DuckDB
    itself (``parquet_source``), other files and stores through Arrow (``read_entries_file``): the ``store``
    fixture runs every test on both."""
    return post_batch_file(store, path)


def assert_refused(store, path, *fragments):
    with pytest.raises(InputError) as refused:
        post_file(store, path)
    message = str(refused.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    assert counts(store) == {"ledger_transactions": 0, "ledger_entries": 0, "quarantine": 0}
    return message


# -- bad files ----------------------------------------------------------------------------------------


def test_csv_with_a_record_of_the_wrong_width(store, chart, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + GOOD + "t2,cash,debit,1,2024-01-01,x,unexpected\n" + GOOD)
    assert_refused(store, path, "line 4", "7 field(s)", "6")


def test_csv_with_an_unterminated_quote(store, chart, tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(HEADER + GOOD + 't2,cash,debit,1,2024-01-01,"never closed\n')
    assert_refused(store, path, "malformed CSV")


def test_csv_that_is_not_utf8(store, chart, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + GOOD + "t2,cash,debit,1,2024-01-01,caf\u00e9\n").encode("latin-1"))
    assert_refused(store, path, "line 4", "not UTF-8")


def test_csv_with_a_header_that_is_not_utf8(store, chart, tmp_path):
    path = tmp_path / "header.csv"
    path.write_bytes("external_id,account,direction,amount,d\u00e9tail\n".encode("latin-1"))
    assert_refused(store, path, "line 1", "not UTF-8")


@pytest.mark.parametrize(("content", "message"), [
    pytest.param("", "empty", id="empty"),
    pytest.param("external_id,account,amount\nt1,cash,1\n", "missing column(s) direction",
                 id="missing_required_columns"),
    pytest.param("external_id,account,direction\nt1,cash,debit\n", "amount or amount_minor",
                 id="missing_both_amount_columns"),
])
def test_csv_refused_for_its_columns(store, chart, tmp_path, content, message):
    path = tmp_path / "refused.csv"
    path.write_text(content)
    assert_refused(store, path, message)


def test_truncated_parquet(store, chart, tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"external_id": ["t1", "t1"], "account": ["cash", "revenue"],
                             "direction": ["debit", "credit"], "amount_minor": [5, 5]}), good)
    path = tmp_path / "truncated.parquet"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_refused(store, path, "not a readable Parquet file")


def test_garbage_parquet(store, chart, tmp_path):
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"external_id,account\nthis is not parquet at all" * 10)
    assert_refused(store, path, "not a readable Parquet file")


def test_zero_byte_parquet(store, chart, tmp_path):
    path = tmp_path / "zero.parquet"
    path.write_bytes(b"")
    assert_refused(store, path, "not a readable Parquet file")


@pytest.mark.parametrize("column", ["amount", "amount_minor"])
@pytest.mark.parametrize("float_type", [pa.float64(), pa.float32()])
def test_parquet_float_amount_column_is_refused(store, chart, tmp_path, column, float_type):
    path = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"external_id": ["t1", "t1"], "account": ["cash", "revenue"],
                             "direction": ["debit", "credit"], column: pa.array([10.1, 10.1], float_type)}), path)
    assert_refused(store, path, f"column {column!r} is floating point")


def test_parquet_missing_columns(store, chart, tmp_path):
    path = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"external_id": ["t1"], "direction": ["debit"], "amount_minor": [1]}), path)
    assert_refused(store, path, "missing column(s) account")


def test_missing_file_and_unknown_suffix(store, chart, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_entries_file(tmp_path / "absent.csv")
    other = tmp_path / "entries.xlsx"
    other.write_text("x")
    assert_refused(store, other, "unsupported file type")


def test_float_looking_csv_amounts_are_refused_by_rule_naming_the_line(store, chart, tmp_path):
    """A CSV is read as text, so ``10.005`` reaches rule 3 unrounded and is refused with its line."""
    path = tmp_path / "precise.csv"
    path.write_text(HEADER + GOOD + "t2,cash,debit,10.005,2024-01-01,x\nt2,revenue,credit,10.005,2024-01-01,x\n")
    result = post_file(store, path)
    assert result.created == 1 and result.quarantined == 1
    details = [v.detail for v in result.violations if v.reason_code == "excess_precision"]
    assert any("precise.csv:4" in d and "10.005" in d for d in details), details


# -- good files ---------------------------------------------------------------------------------------


def test_csv_fixture_posts_and_names_lines(store, chart):
    """tests/fixtures/ledger/entries.csv: quoted fields, a BOM, CRLF line ends, one refused transaction."""
    result = post_file(store, FIXTURES / "entries.csv")
    assert (result.created, result.quarantined) == (3, 1)
    assert {v.reason_code for v in result.violations} == {"unknown_account"}
    assert {v.line for v in result.violations} == {9}
    assert amounts(store) == {"cash": 135050, "revenue": 135000, "payable": 50, "eur_cash": 999,
                              "eur_revenue": 999}
    with store.connect() as conn:
        description = conn.scalar("SELECT description FROM ledger_transactions WHERE external_id = 'inv-1'")
    assert description == "Invoice 1, \"annual\""


def test_parquet_typed_columns_post_exactly(store, chart, tmp_path):
    """Decimal and int64 amounts, timestamp (naive, zoned, ns) and date effective times, dictionary text."""
    n38 = Decimal("9" * 38)
    rows = {
        "external_id": ["dec", "dec", "int", "int", "ns", "ns", "date", "date", "big", "big"],
        "account": pa.array(["cash", "revenue", "cash", "revenue", "eur_cash", "eur_revenue", "jpy_cash",
                             "jpy_revenue", "points_pool", "points"]).dictionary_encode(),
        "direction": ["debit", "credit"] * 5,
        "amount": pa.array([Decimal("12.30"), Decimal("12.3"), None, None, Decimal("0.01"), Decimal("0.01"),
                            Decimal("1500"), Decimal("1500.000"), None, None], pa.decimal128(38, 3)),
        "amount_minor": pa.array([None, None, 7, 7, None, None, None, None, n38, n38], pa.decimal128(38, 0)),
    }
    table = pa.table(rows)
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    result = post_file(store, path)
    assert result.created == 5 and not result.violations, result.violations
    assert amounts(store) == {"cash": 1237, "revenue": 1237, "eur_cash": 1, "eur_revenue": 1, "jpy_cash": 1500,
                              "jpy_revenue": 1500, "points": int(n38), "points_pool": int(n38)}


@pytest.mark.parametrize(("column", "expected"), [
    pytest.param(pa.array([datetime(2024, 2, 3, 4, 5, 6, 789000)] * 2, pa.timestamp("us")),
                 datetime(2024, 2, 3, 4, 5, 6, 789000, tzinfo=UTC), id="naive-us-is-utc"),
    pytest.param(pa.array([datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)] * 2, pa.timestamp("s", tz="Europe/Paris")),
                 datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC), id="zoned-s"),
    pytest.param(pa.array([1706933106123456789] * 2, pa.timestamp("ns", tz="UTC")),
                 datetime(2024, 2, 3, 4, 5, 6, 123456, tzinfo=UTC), id="ns-truncated-to-us"),
    pytest.param(pa.array([date(2024, 2, 3)] * 2, pa.date32()), datetime(2024, 2, 3, tzinfo=UTC), id="date"),
    pytest.param(pa.array(["2024-02-03T05:05:06+01:00"] * 2), datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
                 id="text-with-offset"),
])
def test_parquet_effective_at_columns(store, chart, tmp_path, column, expected):
    table = pa.table({"external_id": ["e", "e"], "account": ["cash", "revenue"], "direction": ["debit", "credit"],
                      "amount_minor": pa.array([3, 3], pa.int64()), "effective_at": column})
    path = tmp_path / "times.parquet"
    pq.write_table(table, path)
    result = post_file(store, path)
    assert result.created == 1 and not result.violations, result.violations
    with store.connect() as conn:
        stored = conn.all("SELECT effective_at FROM ledger_transactions UNION ALL "
                          "SELECT DISTINCT effective_at FROM ledger_entries")
    assert {row[0] for row in stored} == {expected}
    # posting the same file again is a no-op: the typed time hashes the same way
    assert post_file(store, path).duplicates == 1


def test_arrow_table_in_memory(store, chart):
    table = normalise_entries(pa.table({
        "External_ID": ["m", "m"], " Account ": ["cash", "revenue"], "DIRECTION": ["Debit", "CREDIT"],
        "amount_minor": pa.array([250, 250], pa.int32())}), source_name="memory")
    result = post_batch(store, table)
    assert result.created == 1 and not result.violations
    assert amounts(store) == {"cash": 250, "revenue": 250}


def test_parquet_refusal_names_the_file_and_row_in_quarantine(store, chart, tmp_path):
    """``record_ref`` of a Parquet batch is built in SQL from the file name and the 1-based row."""
    path = tmp_path / "it's.parquet"  # a quote in the name must survive the SQL literal
    pq.write_table(pa.table({
        "external_id": ["ok", "ok", "bad", "bad"],
        "account": ["cash", "revenue", "cash", "nowhere"],
        "direction": ["debit", "credit", "debit", "credit"],
        "amount_minor": pa.array([100, 100, 5, 5], pa.int64()),
    }), path)
    result = post_file(store, path)
    assert (result.created, result.quarantined) == (1, 1)
    assert [v.detail.split(":")[0:2] for v in result.violations] == [["it's.parquet", "4"]]
    with store.connect() as conn:
        assert conn.all("SELECT record_ref, reason_code FROM quarantine") == [("it's.parquet:3", "unknown_account")]


@pytest.mark.parametrize(("suffix", "line"), [("parquet", 3), ("csv", 4)])  # a CSV's line counts its header
def test_a_row_without_external_id_is_named_by_its_file_and_row(store, chart, tmp_path, suffix, line):
    """Such a row is a transaction of its own whose key names the file and row (``record_ref_sql``), in the
    violation and in quarantine, however the file is read."""
    path = tmp_path / f"rows.{suffix}"
    table = pa.table({"external_id": ["ok", "ok", None], "account": ["cash", "revenue", "cash"],
                      "direction": ["debit", "credit", "debit"], "amount_minor": pa.array([7, 7, 7], pa.int64())})
    if suffix == "parquet":
        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    result = post_file(store, path)
    assert (result.created, result.quarantined) == (1, 1)
    assert {(v.tx_key, v.reason_code) for v in result.violations} >= {
        (f"<no external_id at rows.{suffix}:{line}>", "missing_field")}
    with store.connect() as conn:
        assert conn.all("SELECT record_ref, reason_code FROM quarantine") == [(f"rows.{suffix}:{line}", "missing_field")]


def test_the_bulk_memory_cap_holds_during_the_post_and_is_lifted_after(store, chart, monkeypatch):
    from ledger_pipeline.ledger import batch_post, posting

    seen = []
    original = batch_post.run_pipeline

    def spy(conn, **kwargs):
        if not conn.is_postgres:
            seen.append(conn.scalar("SELECT current_setting('memory_limit')"))
        return original(conn, **kwargs)

    monkeypatch.setattr(batch_post, "run_pipeline", spy)
    monkeypatch.setenv("LEDGER_DUCKDB_BULK_MEMORY_LIMIT", "300MB")
    with store.transaction() as conn:
        if conn.is_postgres:
            pytest.skip("a DuckDB setting")
        before = conn.scalar("SELECT current_setting('memory_limit')")
        result = posting.post(conn, posting.PostRequest(normalise_entries(pa.table({
            "external_id": ["t", "t"], "account": ["cash", "revenue"], "direction": ["debit", "credit"],
            "amount": ["1.00", "1.00"]}))))
        after = conn.scalar("SELECT current_setting('memory_limit')")
    assert result.created == 1
    assert seen and seen[0] != before and seen[0].startswith("28") and after == before  # 300 MB = 286.1 MiB


def _one_transaction():
    """A request to post one balanced transaction between ``cash`` and ``revenue``."""
    from ledger_pipeline.ledger import batch_post

    return batch_post.PostRequest(normalise_entries(pa.table({
        "external_id": ["t", "t"], "account": ["cash", "revenue"], "direction": ["debit", "credit"],
        "amount": ["1.00", "1.00"]})))


_BULK_SETTINGS_SQL = ("SELECT current_setting('work_mem'), current_setting('jit_inline_above_cost'), "
                      "current_setting('jit_optimize_above_cost')")


@pytest.mark.parametrize("rows_threshold, raised", [(2, True), (10_000, False)])
def test_a_postgres_bulk_post_raises_work_mem_and_drops_jit_optimisation_only_while_it_posts(
        store, chart, monkeypatch, rows_threshold, raised):
    """A bulk post's session gets more ``work_mem`` and no JIT inlining or optimisation while it posts (the
    staged batch's sorts fit in memory; the rules statement is not compiled for seconds); a batch under the
    threshold, as a single write, keeps the server's settings; the session's own are back afterwards."""
    from ledger_pipeline.ledger import batch_post
    from ledger_pipeline.ledger.engines import postgres

    if not store.is_postgres:
        pytest.skip("PostgreSQL's settings")
    seen = []
    original = batch_post.run_pipeline

    def spy(conn, **kwargs):
        seen.append(conn.one(_BULK_SETTINGS_SQL))
        return original(conn, **kwargs)

    monkeypatch.setattr(batch_post, "run_pipeline", spy)
    monkeypatch.setattr(postgres, "POSTGRES_BULK_MIN_ROWS", rows_threshold)
    monkeypatch.setenv("LEDGER_POSTGRES_BULK_WORK_MEM", "96MB")
    with store.transaction() as conn:
        before = conn.one(_BULK_SETTINGS_SQL)
        conn.execute("SET work_mem = '8MB'")  # the session's own, restored after the post
        result = batch_post.post(conn, _one_transaction())
        after = conn.one(_BULK_SETTINGS_SQL)
    assert result.created == 1
    assert before[0] != "8MB"
    assert after == ("8MB", before[1], before[2])
    assert seen == [("96MB", "-1", "-1") if raised else ("8MB", before[1], before[2])]


@pytest.mark.parametrize("value", ["512mb", "65536", "lots"])
def test_a_postgres_bulk_work_mem_without_a_unit_or_not_a_size_is_refused_before_anything_is_written(
        store, chart, monkeypatch, value):
    """PostgreSQL reads a bare number of ``work_mem`` in kB and its units are case-sensitive, so only a size
    with its unit is taken; anything else is refused with the variable named, and nothing is posted."""
    from ledger_pipeline.ledger import batch_post
    from ledger_pipeline.ledger.engines import postgres

    if not store.is_postgres:
        pytest.skip("PostgreSQL's settings")
    monkeypatch.setattr(postgres, "POSTGRES_BULK_MIN_ROWS", 2)
    monkeypatch.setenv("LEDGER_POSTGRES_BULK_WORK_MEM", value)
    with pytest.raises(InputError, match=f"LEDGER_POSTGRES_BULK_WORK_MEM='{value}': a size with its unit"):
        batch_post.post(store, _one_transaction())
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 0


@pytest.mark.parametrize("value", ["lots", "80%", "0"])
def test_a_duckdb_bulk_memory_limit_duckdb_cannot_read_is_refused_before_anything_is_written(
        store, chart, monkeypatch, value):
    """A cap DuckDB cannot read is refused as bad input with the variable named (exit code 2 at the CLI),
    not an internal error in the middle of the post; nothing is posted."""
    from ledger_pipeline.ledger import batch_post

    if store.is_postgres:
        pytest.skip("a DuckDB setting")
    monkeypatch.setenv("LEDGER_DUCKDB_BULK_MEMORY_LIMIT", value)
    with pytest.raises(InputError, match=f"LEDGER_DUCKDB_BULK_MEMORY_LIMIT='{value}': not a size DuckDB takes"):
        batch_post.post(store, _one_transaction())
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 0


def _staged_by_duckdb(path: Path) -> dict[str, list]:
    import duckdb

    source = parquet_source(path)
    with duckdb.connect() as conn:
        table = conn.execute(f"SELECT * FROM ({source.sql}) ORDER BY line").to_arrow_table()
    rows = {name: table.column(name).to_pylist() for name in table.column_names}
    rows["record_ref"] = [f"{source.record_ref_prefix}{line}" for line in rows["line"]]
    return rows


def _staged_by_arrow(path: Path) -> dict[str, list]:
    table = read_entries_file(path)
    rows = {name: table.column(name).to_pylist() for name in table.column_names}
    prefix = table.schema.metadata[b"ledger_pipeline.record_ref_prefix"].decode()
    rows["record_ref"] = [f"{prefix}{line}" for line in rows["line"]]
    return rows


@pytest.mark.parametrize("effective_at", [
    pytest.param(pa.array([datetime(2024, 2, 3, 4, 5, 6, 789000), None, datetime(2023, 1, 1)], pa.timestamp("us")),
                 id="naive-us"),
    pytest.param(pa.array([datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)] * 3, pa.timestamp("ms", tz="Asia/Tokyo")),
                 id="zoned-ms"),
    pytest.param(pa.array(["2024-02-03", "", None]), id="text"),
])
def test_parquet_read_by_duckdb_stages_what_arrow_would(tmp_path, effective_at):
    """Every value DuckDB stages from the file is the text (or time) that ``read_entries_file`` gives:
    column names in any case, integers and decimals of any scale, text with quotes, nulls."""
    path = tmp_path / "o'clock.parquet"
    pq.write_table(pa.table({
        " External_ID ": ["a", "a", None],
        "ACCOUNT": ["cash", "revenue", "x"],
        "direction": ["debit", "credit", "Debit "],
        "amount": pa.array([Decimal("12.30"), Decimal("-0.5"), None], pa.decimal128(12, 2)),
        "amount_minor": pa.array([None, 2**62, -7], pa.int64()),
        "currency": pa.array(["USD", None, "eur"], pa.large_string()),
        "effective_at": effective_at,
        "description": ['say "hi"', "", None],
        "metadata": ['{"k": 1}', None, "{}"],
        "unrelated": pa.array([1.5, 2.5, 3.5]),  # a float column that is not the batch's is not read
        "ledgerable_id": pa.array([1, 2, 3], pa.uint8()),
    }), path)
    assert parquet_source(path) is not None
    assert _staged_by_duckdb(path) == _staged_by_arrow(path)


@pytest.mark.parametrize("columns", [
    pytest.param({"effective_at": pa.array([1706933106123456789], pa.timestamp("ns", tz="UTC"))}, id="ns-time"),
    pytest.param({"effective_at": pa.array([date(2024, 2, 3)], pa.date32())}, id="date"),
    pytest.param({"account": pa.array(["cash"]).dictionary_encode()}, id="dictionary-text"),
])
def test_parquet_types_only_arrow_defines_are_read_through_arrow(tmp_path, columns):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"external_id": ["a"], "account": ["cash"], "direction": ["debit"],
                             "amount_minor": [1], **columns}), path)
    assert parquet_source(path) is None


def test_parquet_with_a_page_that_does_not_decode(store, chart, tmp_path):
    """The footer reads, a data page does not: still an InputError naming the file, nothing written."""
    good = tmp_path / "good.parquet"
    n = 20_000
    pq.write_table(pa.table({"external_id": [f"t{i // 2}" for i in range(n)], "account": ["cash", "revenue"] * (n // 2),
                             "direction": ["debit", "credit"] * (n // 2), "amount_minor": list(range(n))}),
                   good, compression="snappy", use_dictionary=False)
    data = bytearray(good.read_bytes())
    middle = len(data) // 3
    data[middle:middle + 64] = b"\xff" * 64
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(data))
    assert_refused(store, path, "not a readable Parquet file")
