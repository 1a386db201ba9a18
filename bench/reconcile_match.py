"""Benchmark: matching 1,000,000 bank lines against 1,000,000 ledger entries on DuckDB (target <= 10 s).

The scenario has a known answer. One linked bank account; every ledger transaction has one entry on it.
Of the ledger items: 1 % are Stripe balance transactions settled by 2,000 payouts (5 each, carrying
``payout_id``) that the bank shows as one ``STRIPE TRANSFER po_...`` line each; 2 % are paid with the
ledger transaction's reference on the bank line, up to 10 days later; 0.3 % never reach the bank; the rest
clear 0-2 days later for the same amount. The bank also has lines with no ledger counterpart (fees), so
that both sides have exactly N items. Amounts are unique, so the right answer is unique.

The ledger side is posted with the core's bulk ``post_batch`` and the bank side is written straight into
the statement tables (neither is timed). Each timed repetition runs ``run_reconciliation`` (variances of
365 statement dates, matching, the exceptions list) on a fresh copy of the built store, and the result is
checked against the plan: every planted match found with its rule, no false match, every break reported.

Usage: ``uv run python -m bench.reconcile_match [--n 1000000] [--repeat 3]`` (``BENCH_QUICK=1``: 50,000).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.results import save
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.posting import post_batch
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.reconcile.accounts import INTERNAL, ensure_internal_account, link_ledger_account
from ledger_pipeline.reconcile.runner import run_reconciliation
from ledger_pipeline.store_setup import initialize_store

TARGET_SECONDS = 10.0
START = np.datetime64("2025-01-01", "D")
PAYOUT_SIZE = 5


def plan(n: int, seed: int = 20251122) -> dict[str, np.ndarray | int]:
    """Which ledger item goes where (index arrays), with unique amounts."""
    rng = np.random.default_rng(seed)
    kind = np.zeros(n, np.int8)  # 0 amount/date, 1 payout item, 2 reference, 3 ledger only
    order = rng.permutation(n)
    n_payout_items = (n // 100) // PAYOUT_SIZE * PAYOUT_SIZE
    n_ref = n * 2 // 100
    n_ledger_only = n * 3 // 1000
    kind[order[:n_payout_items]] = 1
    kind[order[n_payout_items:n_payout_items + n_ref]] = 2
    kind[order[n_payout_items + n_ref:n_payout_items + n_ref + n_ledger_only]] = 3
    # Unique magnitudes: a permutation spread with a random remainder, then a random sign (mostly inflows).
    magnitude = 1_000 + rng.permutation(n).astype(np.int64) * 37 + rng.integers(0, 37, n)
    sign = np.where(rng.random(n) < 0.7, 1, -1)
    amount = magnitude * sign
    payout_items = np.flatnonzero(kind == 1)
    amount[payout_items] = magnitude[payout_items]  # charges, all inflows
    day = rng.integers(0, 360, n)
    n_payouts = n_payout_items // PAYOUT_SIZE
    payout_of = np.full(n, -1, np.int64)
    payout_of[payout_items] = np.arange(n_payout_items) // PAYOUT_SIZE
    # Items of one payout: same days window; the payout lands 2 days after its last item.
    n_bank_only = n - (n - n_payout_items - n_ledger_only + n_payouts)
    return {"n": n, "kind": kind, "amount": amount, "day": day, "payout_of": payout_of, "n_payouts": n_payouts,
            "n_bank_only": n_bank_only, "n_ledger_only": n_ledger_only, "n_ref": n_ref,
            "n_payout_items": n_payout_items, "offset": rng.integers(0, 3, n), "ref_offset": rng.integers(0, 11, n),
            "bank_only_amount": -(1_000 + 37 * n + rng.permutation(max(n_bank_only, 1))[:n_bank_only] * 7 + 3),
            "bank_only_day": rng.integers(0, 360, n_bank_only)}


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array((START + days.astype("timedelta64[D]")).astype("datetime64[D]"), pa.date32())


def build(path: Path, p: dict) -> dict[str, float]:
    """Create the store at ``path`` with the planned ledger and bank sides. Returns setup timings."""
    n = p["n"]
    timings = {}
    store = Store(f"duckdb:///{path}")
    initialize_store(store)
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec("cash_bench", "debit", "USD"))
        ensure_account(conn, "main", AccountSpec("revenue_bench", "credit", "USD"))
        ensure_internal_account(conn, "bench_bank", "BENCH-001", "USD")
        link_ledger_account(conn, "cash_bench", INTERNAL, "bench_bank")

    idx = np.arange(n)
    amount, kind, day = p["amount"], p["kind"], p["day"]
    payout_of = p["payout_of"]
    ext = pa.array(np.char.add("bench:", np.char.zfill(idx.astype(str), 8)))
    meta = np.where(kind == 1, np.char.add(np.char.add('{"payout_id": "po_B', payout_of.astype(str)), '"}'), None)
    effective = (START + day.astype("timedelta64[D]")).astype("datetime64[s]") + np.timedelta64(12, "h")
    cash_dir = np.where(amount > 0, "debit", "credit")
    other_dir = np.where(amount > 0, "credit", "debit")
    table = pa.table({
        "external_id": pa.concat_arrays([ext, ext]),
        "account": pa.array(["cash_bench"] * n + ["revenue_bench"] * n),
        "direction": pa.array(np.concatenate([cash_dir, other_dir])),
        "amount_minor": pa.array(np.concatenate([np.abs(amount), np.abs(amount)]), pa.int64()),
        "currency": pa.array(["USD"] * (2 * n)),
        "effective_at": pa.array(np.concatenate([effective, effective]).astype("datetime64[us]"),
                                 pa.timestamp("us", tz="UTC")),
        "metadata": pa.array(np.concatenate([meta, meta]), pa.string()),
    })
    # a transaction's two rows side by side: rows of one external_id apart are two groups, refused
    table = table.take(pa.array(np.arange(2 * n).reshape(2, n).T.ravel()))
    started = time.perf_counter()
    result = post_batch(store, normalise_entries(table, source_name="bench", first_line=1))
    timings["post_ledger_s"] = time.perf_counter() - started
    if result.created != n:
        raise SystemExit(f"ledger setup failed: {result.as_dict()}")

    # Bank side: one line per planned item, in Arrow, then straight into the statement tables.
    single = np.flatnonzero((kind == 0) | (kind == 2))
    line_day = np.where(kind[single] == 0, day[single] + p["offset"][single], day[single] + p["ref_offset"][single])
    text = np.where(kind[single] == 0, np.char.add("ACH ", np.char.zfill(single.astype(str), 8)),
                    np.char.add("WIRE ", np.char.zfill(single.astype(str), 8)))
    customer_ref = np.where(kind[single] == 2, np.char.zfill(single.astype(str), 8), None)
    payouts = np.arange(p["n_payouts"])
    items = np.flatnonzero(kind == 1)
    payout_sum = np.bincount(payout_of[items], weights=None, minlength=p["n_payouts"]).astype(np.int64) * 0
    np.add.at(payout_sum, payout_of[items], amount[items])
    payout_last = np.zeros(p["n_payouts"], np.int64)
    np.maximum.at(payout_last, payout_of[items], day[items])
    payout_text = np.char.add(np.char.add("STRIPE TRANSFER po_B", payouts.astype(str)), " PAYOUT")
    only = np.arange(p["n_bank_only"])
    lines = pa.table({
        "line_date": pa.concat_arrays([_dates(line_day), _dates(payout_last + 2), _dates(p["bank_only_day"])]),
        "amount": pa.array(np.concatenate([amount[single], payout_sum, p["bank_only_amount"]]), pa.int64()),
        "customer_reference": pa.array(np.concatenate([customer_ref, np.full(len(payouts) + len(only), None)]),
                                       pa.string()),
        "text": pa.array(np.concatenate([text, payout_text, np.char.add("BANK FEE X", only.astype(str))])),
    })
    started = time.perf_counter()
    now = datetime.now(UTC)
    with store.transaction() as conn:
        seq = conn.change_seq()
        internal_id = conn.scalar("SELECT id FROM internal_accounts WHERE name = 'bench_bank'")
        conn.raw.register("bench_lines", lines)
        conn.execute(
            "CREATE TEMPORARY TABLE bl AS SELECT *, 'stmt_bench_' || strftime(line_date, '%Y%m%d') AS statement_id, "
            "row_number() OVER (PARTITION BY line_date ORDER BY text) AS line_no FROM bench_lines")
        conn.raw.unregister("bench_lines")
        conn.execute(
            "INSERT INTO bank_statements (id, internal_account_id, account_identifier, statement_date, opening_balance, "
            "closing_balance, currency, statement_ref, source_format, source_file, line_count, created_at, change_seq) "
            "SELECT statement_id, :acct, 'BENCH-001', line_date, running - total, running, 'USD', statement_id, "
            "'generated', NULL, cnt, :now, :seq FROM (SELECT statement_id, line_date, sum(amount) AS total, "
            "count(*) AS cnt, sum(sum(amount)) OVER (ORDER BY line_date) AS running FROM bl GROUP BY statement_id, line_date)",
            {"acct": internal_id, "now": now, "seq": seq})
        conn.execute(
            "INSERT INTO bank_statement_lines (id, statement_id, internal_account_id, line_no, line_date, amount, currency, "
            "type_code, bank_reference, customer_reference, text, created_at, change_seq) "
            "SELECT statement_id || ':' || CAST(line_no AS TEXT), statement_id, :acct, line_no, line_date, amount, 'USD', "
            "NULL, NULL, customer_reference, text, :now, :seq FROM bl", {"acct": internal_id, "now": now, "seq": seq})
    timings["load_bank_s"] = time.perf_counter() - started
    timings["bank_lines"] = lines.num_rows
    return timings


@contextmanager
def _timing_writes():
    """Time spent in the statements that write the stored results (the rest is the matching itself)."""
    from ledger_pipeline.ledger.store import Connection

    spent = [0.0]
    original = Connection.execute

    def execute(self, sql, params=None):
        if not sql.lstrip().startswith(("INSERT INTO recon_match", "INSERT INTO recon_unmatched")):
            return original(self, sql, params)
        started = time.perf_counter()
        try:
            return original(self, sql, params)
        finally:
            spent[0] += time.perf_counter() - started

    Connection.execute = execute
    try:
        yield spent
    finally:
        Connection.execute = original


def verify(store: Store, p: dict) -> dict[str, int]:
    """Compare the stored result with the plan."""
    with store.connect(read_only=True) as conn:
        by_rule = dict(conn.all("SELECT rule, count(*) FROM recon_matches GROUP BY rule"))
        # A one-to-one match is right when the line's text names the ledger transaction's number; a payout
        # match is right when every ledger item carries the payout id named on the line.
        wrong_pairs = conn.scalar(
            "SELECT count(*) FROM recon_matches m JOIN recon_match_items b ON b.match_id = m.id AND b.side = 'bank' "
            "JOIN recon_match_items l ON l.match_id = m.id AND l.side = 'ledger' "
            "JOIN bank_statement_lines bl ON bl.id = b.item_id JOIN ledger_transactions t ON t.id = l.item_id "
            "WHERE CASE WHEN m.rule = 'reference_one_to_many' "
            "THEN split_part(bl.text, ' ', 3) <> json_extract_string(t.metadata, '$.payout_id') "
            "ELSE split_part(bl.text, ' ', 2) <> split_part(t.external_id, ':', 2) END")
        open_by = dict(conn.all("SELECT side || ':' || reason, count(*) FROM recon_unmatched WHERE status = 'open' "
                                "GROUP BY 1"))
    expected = {"amount_date": p["n"] - p["n_payout_items"] - p["n_ref"] - p["n_ledger_only"],
                "reference": p["n_ref"], "reference_one_to_many": p["n_payouts"]}
    found = {k: int(v) for k, v in by_rule.items()}
    problems = []
    if found != expected:
        problems.append(f"matches by rule {found} != planned {expected}")
    if wrong_pairs:
        problems.append(f"{wrong_pairs} false match item pairs")
    if open_by != {"bank:no_counterpart": p["n_bank_only"], "ledger:no_counterpart": p["n_ledger_only"]}:
        problems.append(f"exceptions {open_by} != planned {p['n_bank_only']} bank / {p['n_ledger_only']} ledger")
    if problems:
        raise SystemExit("; ".join(problems))
    return {"matches": sum(found.values()), "false_matches": int(wrong_pairs),
            "bank_unmatched": p["n_bank_only"], "ledger_unmatched": p["n_ledger_only"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000 if os.environ.get("BENCH_QUICK") else 1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args(argv)
    p = plan(args.n)
    with tempfile.TemporaryDirectory(prefix="bench_recon_") as tmp:
        base = Path(tmp) / "base.duckdb"
        setup = build(base, p)
        times, store_times, cpu_times = [], [], []
        load_before = os.getloadavg()[0]
        for i in range(args.repeat):
            run_path = Path(tmp) / f"run{i}.duckdb"
            shutil.copyfile(base, run_path)
            store = Store(f"duckdb:///{run_path}")
            started, cpu_started = time.perf_counter(), time.process_time()
            with _timing_writes() as writes:
                result = run_reconciliation(store, as_of=date(2026, 1, 31), window_days=3)
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)  # all threads of the process (DuckDB's too)
            store_times.append(writes[0])
            checked = verify(store, p)
            run_path.unlink()
    median = statistics.median(times)
    store_median = statistics.median(store_times)
    row = {"n_ledger_entries": args.n, "n_bank_lines": int(setup["bank_lines"]), "median_s": round(median, 2),
           "runs_s": [round(t, 2) for t in times], "target_s": TARGET_SECONDS,
           "cpu_median_s": round(statistics.median(cpu_times), 2), "cpu_runs_s": [round(t, 2) for t in cpu_times],
           "load_average_before": round(load_before, 1), "load_average_after": round(os.getloadavg()[0], 1),
           "writing_results_median_s": round(store_median, 2), "set_operations_median_s": round(median - store_median, 2), "ratio_to_target": round(median / TARGET_SECONDS, 3),
           "setup_post_ledger_s": round(setup["post_ledger_s"], 1), "setup_load_bank_s": round(setup["load_bank_s"], 1),
           "statement_dates": len(result.variances), **checked}
    print("| ledger entries | bank lines | reconcile median (s) | runs (s) | target (s) | ratio to target | "
          "matches | false matches | unmatched bank / ledger |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    print(f"| {args.n:,} | {row['n_bank_lines']:,} | {row['median_s']} | {', '.join(map(str, row['runs_s']))} | "
          f"{TARGET_SECONDS:g} | {row['ratio_to_target']} | {row['matches']:,} | {row['false_matches']} | "
          f"{row['bank_unmatched']:,} / {row['ledger_unmatched']:,} |")
    print(f"\nCPU time of the process (user + sys, all threads) per run: {', '.join(map(str, row['cpu_runs_s']))} s "
          f"(median {row['cpu_median_s']} s); load average {row['load_average_before']} before the runs, "
          f"{row['load_average_after']} after")
    print(f"of the median: writing the results (INSERT into recon_matches, recon_match_group_items, recon_unmatched) "
          f"{row['writing_results_median_s']} s; everything else (scoping, variances, the matching set operations, "
          f"the commit) {row['set_operations_median_s']} s")
    print(f"\nsetup (not timed): bulk post of the ledger side {row['setup_post_ledger_s']} s, "
          f"bank side {row['setup_load_bank_s']} s")
    save("reconcile_match", row)
    met = median <= TARGET_SECONDS or args.n < 1_000_000
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
