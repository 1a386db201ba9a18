"""Benchmark: one 15-minute tick of the Dagster pipeline over every API source, against the mock API.

Every API source (Stripe, Lithic, Marqeta, Peach, LoanPro, NetSuite, Workday, QuickBooks, Chargebee) is
switched on against ``ledger_pipeline.demo.mock_api`` on 127.0.0.1, which serves each recorded payload
``copies`` times with distinct ids (about 10,000 records in all), with each API's paging. A tick is one
in-process run of the raw, ledger and warehouse assets (every source's step: pull, land, map, post; the
ledger step with its blocking checks; the warehouse sync into a DuckDB file), as the schedules run them.

1. First tick: every record is new. Target: <= 60 s end to end.
2. Second tick: nothing new (the mock applies each API's filters: every connector gets its lookback window
   and the records it re-visits again, and landing finds nothing new). Target: <= 15 s.

Each repetition uses a fresh store and warehouse. Runs are recorded in an in-memory Dagster instance (a
deployment's instance keeps its event log in PostgreSQL; a throwaway SQLite one would add its own fsyncs). Reported: medians, every run, this process's CPU seconds
(``time.process_time``; the mock server runs in this process too), the records landed and transactions
posted, and the load average before and after.
Usage: ``uv run python -m bench.ingest_tick [--copies 170] [--repeat 3]`` (``BENCH_QUICK=1``: 10 copies, 1 run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.results import load_line, save

FIRST_TICK_TARGET_S = 60.0
EMPTY_TICK_TARGET_S = 15.0
#: the console shows warnings only (as ``make demo``); every event is still recorded in the instance
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _tick(job, instance) -> tuple[float, float, dict]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not result.success:
        failed = [e.message for e in result.all_events if e.is_failure]
        raise SystemExit(f"the tick failed: {failed[:3]}")
    by_source: dict[str, int] = {}
    posted = 0
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        if event.asset_key.path[0] == "raw":
            by_source[event.asset_key.path[1].split("__")[0]] = meta["source_records_landed_this_run"].value
        elif event.asset_key.path == ["ledger", "ledger_transactions"]:
            posted = meta["dagster/row_count"].value
    return wall, cpu, {"records_landed": sum(by_source.values()), "by_source": by_source,
                       "ledger_transactions": posted}


def run_once(copies: int, workdir: Path) -> dict:
    import dagster as dg

    from ledger_pipeline.demo.mock_api import API_SOURCES, MockApi, MockApiServer, sources_config

    with MockApiServer(MockApi(copies=copies)) as server:
        config = workdir / "sources.yaml"
        config.write_text(yaml.safe_dump(sources_config(server, API_SOURCES)))
        env = {"LEDGER_ENV": "local", "LEDGER_STORE_URL": f"duckdb:///{workdir / 'ledger.duckdb'}",
               "LEDGER_WAREHOUSE_PATH": str(workdir / "warehouse.duckdb"), "LEDGER_LANDING_DIR": str(workdir / "landing"),
               "LEDGER_SOURCES_CONFIG": str(config), "LEDGER_API_SOURCES": ""}
        os.environ.update(env)
        from ledger_pipeline.definitions import defs

        tick = dg.define_asset_job("bench_tick", selection=dg.AssetSelection.groups("raw", "ledger", "warehouse"))
        job = dg.Definitions.merge(defs(), dg.Definitions(jobs=[tick])).resolve_job_def("bench_tick")
        instance = dg.DagsterInstance.ephemeral()
        first = _tick(job, instance)
        empty = _tick(job, instance)
        return {"first": first, "empty": empty, "requests": server.api.requests}


def main(argv: list[str] | None = None) -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10 if quick else 170)
    parser.add_argument("--repeat", type=int, default=1 if quick else 3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench_tick_") as tmp:
            runs.append(run_once(args.copies, Path(tmp)))
    first = statistics.median(r["first"][0] for r in runs)
    empty = statistics.median(r["empty"][0] for r in runs)
    counts = runs[0]["first"][2]
    row = {
        "copies": args.copies, "records_landed_first_tick": counts["records_landed"],
        "ledger_transactions_after_first_tick": counts["ledger_transactions"],
        "records_landed_by_source": counts["by_source"],
        "records_landed_empty_tick": runs[0]["empty"][2]["records_landed"],
        "first_tick_s": [round(r["first"][0], 2) for r in runs], "first_tick_median_s": round(first, 2),
        "first_tick_cpu_s": [round(r["first"][1], 2) for r in runs],
        "empty_tick_s": [round(r["empty"][0], 2) for r in runs], "empty_tick_median_s": round(empty, 2),
        "empty_tick_cpu_s": [round(r["empty"][1], 2) for r in runs],
        "http_requests_per_run": runs[0]["requests"],
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)], "cpus": os.cpu_count(),
    }
    print("| tick | records landed | median (s) | runs (s) | CPU (s) | target |")
    print("|---|---:|---:|---|---|---|")
    print(f"| first (all new) | {row['records_landed_first_tick']:,} | {first:.2f} | "
          f"{', '.join(map(str, row['first_tick_s']))} | {', '.join(map(str, row['first_tick_cpu_s']))} | "
          f"<= {FIRST_TICK_TARGET_S:.0f} s |")
    print(f"| second (nothing new) | {row['records_landed_empty_tick']:,} | {empty:.2f} | "
          f"{', '.join(map(str, row['empty_tick_s']))} | {', '.join(map(str, row['empty_tick_cpu_s']))} | "
          f"<= {EMPTY_TICK_TARGET_S:.0f} s |")
    print(f"\n{row['ledger_transactions_after_first_tick']:,} ledger transactions after the first tick; "
          f"{row['http_requests_per_run']:,} HTTP requests per run; {load_line(load_before[0])}")
    save("ingest_tick", row)
    met = first <= FIRST_TICK_TARGET_S and empty <= EMPTY_TICK_TARGET_S
    if not met:
        print("target missed", file=sys.stderr)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
