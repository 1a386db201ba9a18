"""``make bench``: run every benchmark in turn and print their tables.

Each module is runnable alone (``uv run python -m bench.<name>``) and exposes ``main(argv) -> int``.
Set ``BENCH_QUICK=1`` for a small smoke run.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: tuple[str, ...] = (
    "bench.ingest_stripe",
    "bench.ledger_post",
    "bench.dbt_build",
    "bench.warehouse_sync",
    "bench.reconcile_match",
    "bench.api",
    "bench.ingest_tick",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n## {name}\n", flush=True)
        module = importlib.import_module(name)
        if module.main(sys.argv[1:]) != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that missed a target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
