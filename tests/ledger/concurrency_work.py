"""The work of one racing writer in ``test_concurrency_real.py``, importable without pytest so that a
separate process (``python -m tests.ledger.concurrency_work URL INDEX``) can run it.

A writer goes through three phases; between phases it waits at a barrier (a ``threading.Barrier`` in a
thread, a line on stdin in a process), so all writers start each phase together:

0. ``RACE_KEYS`` races on one external_id each: writer ``i`` posts its own payload (amount ``100 + i``),
   so exactly one writer may create it and every other one must get ``external_id_conflict``;
1. ``HOLDS`` races on one pending transaction each: every writer asks for posted (even ``i``) or archived
   (odd ``i``); exactly one transition may apply;
2. ``SPENDS`` spends out of the limited ``wallet`` (minimum available balance 0).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable

from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, LedgerWriter, TransactionInput, open_writer
from ledger_pipeline.ledger.store import Store

RACE_KEYS = 4
HOLDS = 4
SPENDS = 20
PHASES = 3


def race_payload(key: int, i: int) -> TransactionInput:
    amount = 100 + i
    return TransactionInput([EntryInput("cash", "debit", amount), EntryInput("revenue", "credit", amount)],
                            external_id=f"contested-{key}", effective_at="2024-06-01T00:00:00Z")


def spend_amounts(i: int) -> list[int]:
    rng = random.Random(i)
    return [rng.randint(50, 600) for _ in range(SPENDS)]


def _outcome(call: Callable[[], object]) -> str:
    try:
        return call().action  # type: ignore[attr-defined]
    except RuleViolation as exc:
        return ",".join(exc.reason_codes)


def run_phase(writer: LedgerWriter, i: int, phase: int) -> object:
    if phase == 0:
        return [_outcome(lambda k=k: writer.post(race_payload(k, i))) for k in range(RACE_KEYS)]
    if phase == 1:
        status = "posted" if i % 2 == 0 else "archived"
        return [_outcome(lambda k=k: writer.transition(f"hold-{k}", status)) for k in range(HOLDS)]
    outcomes = []
    for k, amount in enumerate(spend_amounts(i)):
        outcomes.append(_outcome(lambda k=k, amount=amount: writer.post(TransactionInput(
            [EntryInput("wallet", "debit", amount), EntryInput("payable", "credit", amount)],
            external_id=f"spend-{i}-{k}", status="pending" if k % 5 == 0 else "posted"))))
    return outcomes


def main(url: str, i: int) -> None:
    """One writer process: ``ready`` on stdout before each phase, then waits for a line on stdin; prints
    the phases' outcomes as one JSON line at the end."""
    results = []
    with open_writer(Store(url), actor=f"process-{i}", group_commit=False) as writer:
        for phase in range(PHASES):
            print("ready", flush=True)
            if not sys.stdin.readline():
                raise SystemExit("released without a go")
            results.append(run_phase(writer, i, phase))
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
