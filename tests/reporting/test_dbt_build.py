"""``dbt build`` of every model, data test and unit test on a warehouse filled by the real sync, on DuckDB
and on PostgreSQL, with the reports checked against the ledger itself."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ledger_pipeline import paths
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, post_transaction
from tests.reporting import scenario

pytestmark = pytest.mark.slow


def _last_day_balances(warehouse) -> dict[str, tuple]:
    rows = warehouse.query(
        "SELECT ledger_account_id, balance_date, posted_balance_minor, pending_balance_minor, available_balance_minor, "
        "posted_balance, currency_exponent FROM {reporting}.fct_daily_account_balances "
        "WHERE balance_date = (SELECT max(balance_date) FROM {reporting}.fct_daily_account_balances)"
    )
    return {row[0]: row[1:] for row in rows}


def _assert_last_day_equals_ledger(warehouse) -> None:
    expected = scenario.ledger_balances(warehouse.store)
    last_day = _last_day_balances(warehouse)
    assert set(last_day) == set(expected), "every account has a row on the last day, and only accounts do"
    mismatches = {
        account: (expected[account], tuple(int(v) for v in last_day[account][1:4]))
        for account in expected
        if expected[account] != tuple(int(v) for v in last_day[account][1:4])
    }
    assert not mismatches, f"last-day balances differ from the ledger's: {mismatches}"
    for account, (_, posted, _, _, decimal, exponent) in last_day.items():
        if decimal is not None:  # NULL only beyond the contracts' DECIMAL(38,18) (the 10**25 POINTS account)
            assert Decimal(decimal).scaleb(int(exponent)) == Decimal(int(posted)), account
        else:
            assert abs(int(posted)) >= 10**20, account


AS_OF_DATES = (dt.date(2026, 1, 4), dt.date(2026, 1, 31), dt.date(2026, 2, 28))


def _assert_trial_balances_equal_the_ledger_as_of(warehouse) -> None:
    """rpt_trial_balance_as_of on three days (two month ends) equals the ledger's balances --as-of the end
    of that day (ledger.balances.account_balances)."""
    from ledger_pipeline.ledger.balances import account_balances

    for day in AS_OF_DATES:
        rows = warehouse.query(
            "SELECT ledger_account_id, total_debits_minor, total_credits_minor, is_month_end FROM {reporting}.rpt_trial_balance_as_of "
            f"WHERE as_of_date = DATE '{day.isoformat()}'")
        got = {r[0]: (int(r[1]), int(r[2])) for r in rows}
        assert {r[3] for r in rows} == {day.day != 4}, day
        end_of_day = dt.datetime.combine(day, dt.time.max, dt.UTC)
        with warehouse.store.connect() as conn:
            ledger = {b["account_id"]: (b["posted_debits"], b["posted_credits"])
                      for b in account_balances(conn, as_of=end_of_day)}
        moved = {a: sums for a, sums in ledger.items() if sums != (0, 0)}
        assert len(moved) > 10, day
        assert {a: got.get(a, (0, 0)) for a in ledger} == ledger, day


def _assert_revenue_equals_the_category_entries(warehouse) -> None:
    """Revenue per month and currency (rpt_category_monthly_activity, rpt_profit_and_loss) equals the posted
    entries of the revenue category's accounts, summed in the store."""
    with warehouse.store.connect() as conn:
        expected = {(str(m)[:7], c): int(v) for m, c, v in conn.all(
            "SELECT substr(CAST(CAST(e.effective_at AT TIME ZONE 'UTC' AS DATE) AS TEXT), 1, 7), e.currency, "
            "sum(CASE WHEN e.direction = 'credit' THEN e.amount ELSE -e.amount END) FROM ledger_entries e "
            "JOIN ledger_account_category_accounts m ON m.ledger_account_id = e.ledger_account_id "
            "JOIN ledger_account_categories c ON c.id = m.category_id "
            "WHERE c.name = 'revenue' AND e.status = 'posted' GROUP BY 1, 2")}
    assert expected[("2026-01", "USD")] == 1_25 + 5_00
    activity = {(str(m)[:7], c): int(v) for m, c, v in warehouse.query(
        "SELECT activity_month, currency, net_amount_minor FROM {reporting}.rpt_category_monthly_activity "
        "WHERE category_name = 'revenue'")}
    assert activity == expected
    pnl = {(str(m)[:7], c): int(v) for m, c, v in warehouse.query(
        "SELECT activity_month, currency, revenue_minor FROM {reporting}.rpt_profit_and_loss")}
    assert pnl == expected


def _broken_project(tmp_path: Path, name: str, model: str, old: str, new: str) -> Path:
    """A copy of the dbt project (``tmp_path / name``) with ``old`` replaced by ``new`` in ``model``'s SQL."""
    project = tmp_path / name
    shutil.copytree(paths.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    sql = project / "models" / "marts" / f"{model}.sql"
    text = sql.read_text()
    assert old in text, (model, old)
    sql.write_text(text.replace(old, new))
    return project


def _assert_contracts_are_enforced(warehouse, tmp_path: Path) -> None:
    """A mart whose column type differs from its contract, or whose primary key is NULL, fails the build;
    so does a currency whose exponent is above the scale of the decimal amount columns."""
    retyped = _broken_project(tmp_path, "retyped", "rpt_payouts", "count(*) as entry_count",
                              "cast(count(*) as {{ dbt.type_string() }}) as entry_count")
    result = warehouse.dbt("run", "--select", "rpt_payouts", check=False, project_dir=retyped)
    assert result.returncode != 0 and "enforced contract" in result.output, result.output[-3000:]
    assert re.search(r"entry_count\s*\|\s*\w+\s*\|\s*\w+\s*\|\s*data type mismatch", result.output)

    null_key = _broken_project(tmp_path, "null_key", "rpt_payouts", "        ledger_transaction_id,\n        ledger_id,",
                               "        case when source = 'no such source' then ledger_transaction_id end "
                               "as ledger_transaction_id,\n        ledger_id,")
    result = warehouse.dbt("run", "--select", "rpt_payouts", check=False, project_dir=null_key)
    assert result.returncode != 0, result.output[-3000:]
    assert re.search(r"not[- ]null", result.output, re.IGNORECASE), result.output[-3000:]

    warehouse.execute("UPDATE {source}.ledger_accounts SET currency_exponent = 19 "
                      "WHERE id = (SELECT min(id) FROM {source}.ledger_accounts)")
    result = warehouse.dbt("test", "--select", "assert_currency_exponents_fit_the_decimal_scale", check=False)
    assert result.returncode != 0
    assert re.search(r"FAIL 1 assert_currency_exponents_fit_the_decimal_scale", result.output), result.output[-3000:]


def test_build_on_synced_warehouse_matches_the_ledger(warehouse, tmp_path):
    result = warehouse.dbt("build")
    assert "Completed successfully" in result.output
    assert "ERROR=0 SKIP=0" in result.output

    _assert_last_day_equals_ledger(warehouse)

    by_name = dict(warehouse.query(
        "SELECT a.account_name, a.ledger_account_id FROM {reporting}.dim_ledger_accounts a"))
    alice = by_name["wallet_alice"]
    # Carried forward over quiet days (1 Jan deposit, nothing until 4 Jan), then moved on 4 Jan.
    alice_days = dict(warehouse.query(
        f"SELECT balance_date, posted_balance_minor FROM {{reporting}}.fct_daily_account_balances "
        f"WHERE ledger_account_id = '{alice}' AND balance_date BETWEEN '2026-01-01' AND '2026-01-05'"))
    assert {d.isoformat() if hasattr(d, 'isoformat') else str(d): int(v) for d, v in alice_days.items()} == {
        "2026-01-01": 100_00, "2026-01-02": 100_00, "2026-01-03": 100_00, "2026-01-04": 68_75, "2026-01-05": 68_75}

    categories = dict(warehouse.query("SELECT account_name, account_category FROM {reporting}.dim_ledger_accounts"))
    assert categories["bank_usd"] == categories["operating_eur"] == categories["kwd_bank"] == "cash"
    assert categories["wallet_alice"] == categories["carol_eur"] == "customer_wallet"
    assert categories["revenue_usd"] == "other"

    burn = {(c, str(m)): (int(i), int(o), int(n)) for c, m, i, o, n in warehouse.query(
        "SELECT currency, burn_month, inflow_minor, outflow_minor, net_burn_minor FROM {reporting}.rpt_cash_burn")}
    # Feb: a payout of 28.00 and a reversal of 1.00 in, a spend of 1.00 out.
    assert burn[("USD", "2026-02-01")] == (29_00, 1_00, -28_00)

    payouts = warehouse.query(
        "SELECT external_id, currency, payout_amount_minor, cash_received_minor FROM {reporting}.rpt_payouts")
    # payout-1 by its metadata (and by categories: a processor balance paid to a bank account); bob's
    # wallet paid out through the bank by categories alone.
    assert sorted((e, c, int(a), int(r)) for e, c, a, r in payouts) == [
        ("payout-1", "USD", 30_00, 28_00), ("wallet-payout-bob", "USD", 20_00, -20_00)]

    _assert_trial_balances_equal_the_ledger_as_of(warehouse)
    _assert_revenue_equals_the_category_entries(warehouse)

    liabilities = dict(warehouse.query(
        "SELECT currency, posted_balance_minor FROM {reporting}.rpt_liabilities WHERE balance_date = '2026-01-07'"))
    # alice 68.75 + bob 50.00 - 5.00 (pending-then-posted); bob's 10.00 pending is not posted.
    assert int(liabilities["USD"]) == 68_75 + 45_00
    assert int(liabilities["EUR"]) == 999_99

    volume = warehouse.query(
        "SELECT sum(posted_transaction_count), sum(pending_transaction_count) "
        "FROM {reporting}.rpt_transaction_volume")
    transactions = warehouse.query(
        "SELECT count(*) FILTER (WHERE status = 'posted'), count(*) FILTER (WHERE status = 'pending') "
        "FROM " + ("main" if warehouse.kind == "duckdb" else warehouse.env["LEDGER_WAREHOUSE_SCHEMA"])
        + ".ledger_transactions")
    assert tuple(int(v) for v in volume[0]) == tuple(int(v) for v in transactions[0])

    _assert_contracts_are_enforced(warehouse, tmp_path)


INCREMENTAL_MODELS = {
    # model: (its key columns, the columns that say when a row was built: left out of the comparison)
    "fct_ledger_entries": (("ledger_entry_id",), ("_synced_at", "_built_at")),
    "fct_daily_account_balances": (("ledger_account_id", "balance_date"), ("_synced_at",)),
}


def _incremental_rows(warehouse) -> dict[str, dict[tuple, tuple]]:
    """Every row of the incremental marts and of int_account_daily_movements, by key, as text."""
    found = {}
    tables = {**{f"{{reporting}}.{m}": spec for m, spec in INCREMENTAL_MODELS.items()},
              "{reporting}_intermediate.int_account_daily_movements": (("ledger_account_id", "movement_date"),
                                                                      ("_synced_at",))}
    for table, (key, skipped) in tables.items():
        schema, name = table.replace("{reporting}", warehouse.reporting_schema).split(".")
        columns = [c for (c,) in warehouse.query(
            f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' "
            f"AND table_name = '{name}' ORDER BY column_name") if c not in skipped]
        rows = warehouse.query(f"SELECT {', '.join(columns)} FROM {table}")
        at = [columns.index(k) for k in key]
        found[name] = {tuple(str(r[i]) for i in at): tuple(str(v) for v in r) for r in rows}
        assert len(found[name]) == len(rows), f"{name}: duplicate keys"
    return found


def test_incremental_sync_and_rebuild_still_match(warehouse, tmp_path):
    """After more postings (one effective today, one backdated two months, one on a new account) and an
    incremental sync, an incremental build equals the ledger and a full refresh, row for row, and rebuilt
    only what changed. On each engine in turn (store, warehouse and dbt target alike); docs build."""
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
    from tests.warehouse.settle import wait_until_settled

    warehouse.dbt("build")
    docs = warehouse.dbt("docs", "generate")
    assert "Catalog written" in docs.output
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert "model.ledger_pipeline.fct_daily_account_balances" in catalog["nodes"]
    first_build = _incremental_rows(warehouse)

    with warehouse.store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec("late_wallet", "credit", "USD"))
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for external_id, effective_at, debit, credit, amount in (
            ("late-1", "2026-01-02T12:00:00Z", "bank_usd", "wallet_bob", 7_77),
            ("today-1", today.isoformat(), "bank_usd", "wallet_alice", 1_00),
            ("late-new-account", "2026-01-03T08:00:00Z", "bank_usd", "late_wallet", 3_33)):
        post_transaction(warehouse.store, TransactionInput(
            external_id=external_id, effective_at=effective_at, source="bank",
            entries=[EntryInput(debit, "debit", amount), EntryInput(credit, "credit", amount)]))
    wait_until_settled(warehouse.store)  # PostgreSQL: the next sync's watermark is past the new entries
    moved = warehouse.sync()
    assert moved.rows["ledger_entries"] == 6
    incremental = warehouse.dbt("build")
    assert "ERROR=0 SKIP=0" in incremental.output
    _assert_last_day_equals_ledger(warehouse)
    after_tick = _incremental_rows(warehouse)

    # Only what the new entries touch was rewritten: per account, the days from the earliest one a new entry
    # is effective on (a new account whole), and for the others only days after the first build's last day.
    first_last = max(dt.date.fromisoformat(d) for _, d in first_build["fct_daily_account_balances"])
    rebuilt = {name: (first if isinstance(first, dt.date) else dt.date.fromisoformat(str(first)))
               for name, first in warehouse.query(
        "SELECT a.account_name, min(b.balance_date) FROM {reporting}.fct_daily_account_balances b "
        "JOIN {reporting}.dim_ledger_accounts a USING (ledger_account_id) "
        "WHERE b._synced_at > (SELECT min(_synced_at) FROM {reporting}.fct_daily_account_balances) GROUP BY 1")}
    assert rebuilt["wallet_bob"] == rebuilt["bank_usd"] == dt.date(2026, 1, 2), rebuilt
    assert rebuilt["late_wallet"] == dt.date(2026, 1, 3), rebuilt
    assert rebuilt["wallet_alice"] == min(today.date(), first_last + dt.timedelta(days=1)), rebuilt
    untouched = {n: d for n, d in rebuilt.items() if n not in ("wallet_bob", "bank_usd", "late_wallet", "wallet_alice")}
    assert all(d > first_last for d in untouched.values()), untouched
    assert after_tick["fct_ledger_entries"].keys() - first_build["fct_ledger_entries"].keys()

    warehouse.dbt("build", "--full-refresh")
    assert _incremental_rows(warehouse) == after_tick
    _assert_last_day_equals_ledger(warehouse)


def test_unbalanced_warehouse_fails_the_invariant_tests(duckdb_warehouse):
    """The dbt tests are not decoration: an entry changed in the warehouse breaks them."""
    import duckdb

    with duckdb.connect(duckdb_warehouse.env["LEDGER_WAREHOUSE_PATH"]) as conn:
        conn.execute("UPDATE main.ledger_entries SET amount = amount + 1 "
                     "WHERE id = (SELECT min(id) FROM main.ledger_entries WHERE status = 'posted')")
    result = duckdb_warehouse.dbt("build", check=False)
    assert result.returncode != 0
    for failing in ("sums_equal_fct_ledger_entries", "sums_equal_fct_daily_account_balances",
                    "assert_last_daily_balance_equals_ledger_balance", "sums_equal_rpt_trial_balance"):
        assert re.search(rf"FAIL \d+ {failing}", result.output), failing


def test_balances_end_date_var_cuts_the_report(duckdb_warehouse):
    """With var balances_end_date the report stops that day, and balances are as of its end."""
    duckdb_warehouse.dbt("build", "--select", "+fct_daily_account_balances", "--exclude", "test_type:data",
                  "--vars", '{"balances_end_date": "2026-01-03"}')
    rows = duckdb_warehouse.query(
        "SELECT a.account_name, max(f.balance_date), sum(CASE WHEN f.balance_date = DATE '2026-01-03' "
        "THEN f.posted_balance_minor END) FROM {reporting}.fct_daily_account_balances f "
        "JOIN {reporting}_intermediate.int_ledger_accounts__classified a USING (ledger_account_id) GROUP BY 1")
    by_name = {name: (last, balance) for name, last, balance in rows}
    assert {last for last, _ in by_name.values()} == {dt.date(2026, 1, 3)}
    assert int(by_name["wallet_alice"][1]) == 100_00


def test_a_tick_tests_the_rows_it_wrote_and_dbt_test_every_row(duckdb_warehouse):
    """A plain `dbt build` after a tick runs the entries' tests on the rows it wrote (whole transactions):
    an unbalanced transaction the tick brought fails it, a row an earlier build wrote is not read again.
    `dbt test` reads every row, so it finds that one too."""
    import duckdb

    warehouse = duckdb_warehouse
    warehouse.dbt("build")
    post_transaction(warehouse.store, TransactionInput(
        external_id="tick-1", effective_at="2026-01-05T12:00:00Z", source="bank",
        entries=[EntryInput("bank_usd", "debit", 2_00), EntryInput("wallet_alice", "credit", 2_00)]))
    assert warehouse.sync().rows["ledger_entries"] == 2
    with duckdb.connect(warehouse.env["LEDGER_WAREHOUSE_PATH"]) as conn:
        new_entry = conn.execute("SELECT max(id) FROM main.ledger_entries").fetchone()[0]
        conn.execute("UPDATE main.ledger_entries SET amount = amount + 1 WHERE id = ?", [new_entry])
        old_entry = conn.execute("SELECT min(ledger_entry_id) FROM reporting.fct_ledger_entries").fetchone()[0]
        conn.execute("UPDATE reporting.fct_ledger_entries SET ledger_id = NULL WHERE ledger_entry_id = ?",
                     [old_entry])

    tick = warehouse.dbt("build", check=False)
    assert tick.returncode != 0
    assert re.search(r"FAIL 1 sums_equal_fct_ledger_entries", tick.output), tick.output[-3000:]
    assert re.search(r"PASS not_null_fct_ledger_entries_ledger_id", tick.output), tick.output[-3000:]
    built = warehouse.query("SELECT count(*), count(DISTINCT ledger_transaction_id) FROM {reporting}.fct_ledger_entries "
                            "WHERE _built_at = (SELECT max(_built_at) FROM {reporting}.fct_ledger_entries)")
    assert built == [(2, 1)]

    every_row = warehouse.dbt("test", "--select", "fct_ledger_entries", check=False)
    assert re.search(r"FAIL 1 not_null_fct_ledger_entries_ledger_id", every_row.output), every_row.output[-3000:]
    assert re.search(r"FAIL 1 sums_equal_fct_ledger_entries", every_row.output), every_row.output[-3000:]
