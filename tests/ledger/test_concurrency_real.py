"""Single writers racing for real on PostgreSQL: eight threads with group commit off, and eight separate
processes, against one limited account, one external_id and one pending transaction at a time.

``test_concurrency.py`` writes through group commit, under which one leader of the process writes at a time:
its races never make two write transactions meet on the server. Here every writer has its own connection
and transaction, and the tests measure it: a side thread samples ``pg_stat_activity`` for the writers'
connections (their own ``application_name``) that hold a transaction id, i.e. have an open write
transaction, and each phase must have seen more than one at once. What is checked then is what the row
locks in account id order, the unique-index retry and the re-read of a transition's status promise: no
overdraft, exactly one winner per external_id, every transition applied once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_transaction
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.conftest import PG_URL, pg_schema
from tests.ledger import concurrency_work as work
from tests.ledger.conftest import balances, create_chart, invariant_violations

WRITERS = 8
FUNDING = 20_000
HOLD_AMOUNT = 500
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300  # generous: the shared server may be busy; nothing here waits a fixed time


class PeakWriteTransactions:
    """Samples, until stopped, how many of the writers' connections have an open write transaction (a
    transaction id assigned) at once; the peak is kept per phase (``next_phase``)."""

    QUERY = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND backend_xid IS NOT NULL "
             "AND pid <> pg_backend_pid()")

    def __init__(self, application_name: str):
        self.application_name = application_name
        self.peaks: list[int] = []
        self.samples = 0
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def next_phase(self) -> None:
        self.peaks.append(0)

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            self._started.set()
            while not self._stop.is_set():
                (n,) = conn.execute(self.QUERY, (self.application_name,)).fetchone()
                self.samples += 1
                if self.peaks and n > self.peaks[-1]:
                    self.peaks[-1] = n

    def __enter__(self) -> PeakWriteTransactions:
        self._thread.start()
        assert self._started.wait(30), "the sampler could not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def race_store():
    """A PostgreSQL store with the test chart, whose connections carry an application_name of their own;
    ``wallet`` funded with ``FUNDING`` and ``hold-<k>`` pending for ``HOLD_AMOUNT``."""
    with pg_schema() as url:
        application_name = f"race_{uuid.uuid4().hex[:10]}"
        store = Store(f"{url}&application_name={application_name}")
        initialize_store(store)
        create_chart(store)
        post_transaction(store, TransactionInput(
            [EntryInput("cash", "debit", FUNDING), EntryInput("wallet", "credit", FUNDING)], external_id="fund"))
        for k in range(work.HOLDS):
            post_transaction(store, TransactionInput(
                [EntryInput("cash", "debit", HOLD_AMOUNT), EntryInput("revenue", "credit", HOLD_AMOUNT)],
                external_id=f"hold-{k}", status="pending"))
        yield store, application_name


def check_outcomes(store: Store, results: list[list], peaks: list[int]) -> None:
    """What the writers' outcomes (``results[i][phase]``) and the store must show after the race."""
    print(f"peak concurrent write transactions per phase: {peaks}")
    assert len(peaks) == work.PHASES
    assert all(peak > 1 for peak in peaks), f"the writers did not overlap on the server: peaks {peaks}"

    with store.connect() as conn:
        stored = dict(conn.all(
            "SELECT t.external_id, CAST(e.amount AS BIGINT) FROM ledger_transactions t JOIN ledger_entries e "
            "ON e.ledger_transaction_id = t.id WHERE t.external_id LIKE 'contested-%' AND e.direction = 'debit'"))
        holds = dict((r[0], (r[1], r[2])) for r in conn.all(
            "SELECT external_id, status, version FROM ledger_transactions WHERE external_id LIKE 'hold-%'"))
        n_spends = conn.scalar("SELECT count(*) FROM ledger_transactions WHERE external_id LIKE 'spend-%'")

    # phase 0: one winner per external_id, whose payload is the stored one; every other writer is refused
    race_total = 0
    for k in range(work.RACE_KEYS):
        outcomes = [r[0][k] for r in results]
        assert Counter(outcomes) == {"create": 1, "external_id_conflict": WRITERS - 1}, outcomes
        winner = outcomes.index("create")
        assert stored[f"contested-{k}"] == work.race_payload(k, winner).entries[0].amount
        race_total += stored[f"contested-{k}"]
    assert len(stored) == work.RACE_KEYS

    # phase 1: each pending transaction moved once, to the status its one transitioning writer asked for
    posted_holds = 0
    for k in range(work.HOLDS):
        outcomes = [r[1][k] for r in results]
        assert outcomes.count("transition") == 1, outcomes
        assert set(outcomes) <= {"transition", "noop", "immutable_posted", "invalid_status_transition"}, outcomes
        winner = outcomes.index("transition")
        assert holds[f"hold-{k}"] == ("posted" if winner % 2 == 0 else "archived", 2)
        posted_holds += holds[f"hold-{k}"][0] == "posted"

    # phase 2: never below the wallet's limit, and exactly the accepted spends moved it
    accepted = refused = 0
    for i, r in enumerate(results):
        for amount, outcome in zip(work.spend_amounts(i), r[2], strict=True):
            assert outcome in ("create", "balance_limit_exceeded"), outcome
            accepted += amount if outcome == "create" else 0
            refused += outcome != "create"
    assert refused > 0  # the limit was contended
    assert n_spends == WRITERS * work.SPENDS - refused
    now = balances(store)
    assert now["wallet"]["available_amount"] == FUNDING - accepted >= 0
    assert now["wallet"]["pending_amount"] == FUNDING - accepted
    assert now["payable"]["pending_amount"] == accepted
    cash = now["cash"]
    assert cash["posted_debits"] == FUNDING + race_total + posted_holds * HOLD_AMOUNT
    assert cash["pending_debits"] == FUNDING + race_total + posted_holds * HOLD_AMOUNT
    assert invariant_violations(store) == []


def test_threads_without_group_commit_race_for_real(race_store):
    store, application_name = race_store
    results: list[list] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []

    with PeakWriteTransactions(application_name) as peak:
        barrier = threading.Barrier(WRITERS, action=peak.next_phase)

        def writer_thread(i: int) -> None:
            try:
                with open_writer(store, actor=f"thread-{i}", group_commit=False) as writer:
                    assert writer._group is None
                    for phase in range(work.PHASES):
                        barrier.wait(TIMEOUT_S)
                        results[i].append(work.run_phase(writer, i, phase))
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=writer_thread, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT_S)
        assert not any(t.is_alive() for t in threads), "a writer hung"
    assert errors == [], errors
    check_outcomes(store, results, peak.peaks)


def test_separate_processes_race_for_real(race_store):
    store, application_name = race_store
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as logs, PeakWriteTransactions(application_name) as peak:
        procs = []
        try:
            for i in range(WRITERS):
                stderr = open(Path(logs) / f"writer-{i}.err", "w")  # noqa: SIM115 - closed with the process
                procs.append((subprocess.Popen(
                    [sys.executable, "-m", "tests.ledger.concurrency_work", store.url, str(i)], cwd=ROOT, env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True), stderr))

            def errors_of(i: int) -> str:
                return (Path(logs) / f"writer-{i}.err").read_text()

            for _phase in range(work.PHASES):
                for i, (proc, _) in enumerate(procs):  # a barrier: every writer is ready for the phase...
                    line = proc.stdout.readline()
                    assert line == "ready\n", f"writer {i}: {line!r} {errors_of(i)}"
                peak.next_phase()
                for proc, _ in procs:  # ...before any is released
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
            results = []
            for i, (proc, _) in enumerate(procs):
                out, _ = proc.communicate(timeout=TIMEOUT_S)
                assert proc.returncode == 0, f"writer {i} failed: {errors_of(i)}"
                results.append(json.loads(out))
        finally:
            for proc, stderr in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                stderr.close()
    check_outcomes(store, results, peak.peaks)
