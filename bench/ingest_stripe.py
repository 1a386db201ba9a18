"""Ingest and post N generated Stripe balance transactions from a JSON-lines file (target: 1,000,000 in
<= 30 s). Peer: the physical floor of this machine, DuckDB reading and hashing the same file alone.

``uv run python -m bench.ingest_stripe [N] [--runs R]``; ``BENCH_QUICK=1`` uses 20,000.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from bench.results import save
from ledger_pipeline.ingest.pipeline import ingest
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store

TARGET_SECONDS = 30.0
CATEGORIES = np.array(["charge", "refund", "dispute", "payout"])
CURRENCIES = np.array(["usd", "eur", "gbp"])


def write_balance_transactions(path: Path, n: int, seed: int = 7) -> None:
    """``n`` balance transactions as Stripe API objects, one JSON object per line (deterministic)."""
    rng = np.random.default_rng(seed)
    cat = CATEGORIES[rng.choice(4, n, p=[0.8, 0.1, 0.02, 0.08])]
    cur = CURRENCIES[rng.integers(0, 3, n)]
    gross = rng.integers(100, 500_000, n)
    sign = np.where((cat == "charge"), 1, -1)
    amount = gross * sign
    fee = np.where(cat == "charge", gross * 29 // 1000 + 30, np.where(cat == "dispute", 1500, 0))
    net = amount - fee
    created = 1_700_000_000 + rng.integers(0, 365 * 86400, n)
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({
                "id": f"txn_{i:09d}", "object": "balance_transaction", "amount": int(amount[i]),
                "available_on": int(created[i]) + 172800, "created": int(created[i]), "currency": str(cur[i]),
                "description": None, "fee": int(fee[i]), "net": int(net[i]), "reporting_category": str(cat[i]),
                "source": f"src_{i:09d}", "status": "available",
                "type": "adjustment" if cat[i] == "dispute" else str(cat[i]),
            }, separators=(",", ":")))
            out.write("\n")


def floor_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SELECT count(*), count(DISTINCT md5(json)) FROM read_json_objects(?, format='newline_delimited')",
                [str(path)]).fetchall()
    con.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    runs = 1
    if "--runs" in argv:
        i = argv.index("--runs")
        runs = int(argv[i + 1])
        del argv[i:i + 2]
    n = int(argv[0]) if argv else (20_000 if os.environ.get("BENCH_QUICK") else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "balance_transactions.jsonl"
        write_balance_transactions(data, n)
        firsts, seconds, floors = [], [], []
        stages: dict[str, list[float]] = {}
        for run in range(runs):
            store = Store(f"duckdb:///{Path(tmp) / f'bench{run}.duckdb'}")
            initialize_store(store)
            marks: list[tuple[str, float]] = []
            t0 = time.perf_counter()
            first = ingest(store, "stripe", files=[data],
                           progress=lambda event, detail, marks=marks: marks.append((event, time.perf_counter())))
            firsts.append(time.perf_counter() - t0)
            previous = t0
            for event, at in marks + [("commit", time.perf_counter())]:
                stages.setdefault(event, []).append(at - previous)
                previous = at
            t0 = time.perf_counter()
            again = ingest(store, "stripe", files=[data])
            seconds.append(time.perf_counter() - t0)
            floors.append(floor_seconds(data))
            assert first.created == n and first.quarantined == 0, first.as_dict()
            assert again.landed == 0 and again.created == 0, again.as_dict()
    med, med2, floor = statistics.median(firsts), statistics.median(seconds), statistics.median(floors)
    print(f"| Stripe balance transactions from JSON lines (N={n:,}, runs={runs}) | median s | ratio to floor |")
    print("|---|---:|---:|")
    print(f"| ingest + land + map + post (first run) | {med:.2f} | {med / floor:.1f}x |")
    print(f"| same file again (lands 0, posts 0) | {med2:.2f} | {med2 / floor:.1f}x |")
    print(f"| floor: DuckDB reads and hashes the file | {floor:.2f} | 1.0x |")
    labels = {"parsed": "parse the file (connector)", "landed": "land (anti-join, append)",
              "mapped": "map (YAML rules, one DuckDB query)", "posted": "post (core: rules, entries, balances)",
              "commit": "commit"}
    print("\n| first run by stage | median s | share |\n|---|---:|---:|")
    for event, label in labels.items():
        if event in stages:
            value = statistics.median(stages[event])
            print(f"| {label} | {value:.2f} | {value / med:.0%} |")
    print(f"\ntarget: {n:,} in <= {TARGET_SECONDS * n / 1_000_000:.1f} s -> "
          f"{'met' if med <= TARGET_SECONDS * n / 1_000_000 else 'MISSED'}")
    save("ingest_stripe", {
        "n": n, "runs": runs, "first_run_seconds": firsts, "second_run_seconds": seconds,
        "floor_seconds": floors, "stages": stages, "target_seconds_per_million": TARGET_SECONDS})
    return 0 if med <= TARGET_SECONDS * n / 1_000_000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
