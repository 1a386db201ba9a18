"""Group commit: concurrent single writes run together, each caller still gets exactly its own outcome.

The combining (``GroupCommit``) is tested with plain Python callables and threads released in a fixed
order; the posting of a group (``LedgerWriter._post_group``) on both engines with groups built by hand, so
that what ends up together is not left to thread timing.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.group_commit import GroupCommit, Request
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, group_for, open_writer
from ledger_pipeline.ledger.writer import _PendingWrite
from tests.ledger.conftest import amounts, counts, invariant_violations


def _wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@contextlib.contextmanager
def _held_up(store):
    """Hold back every write to ``store`` while the block runs: the store's write lock on DuckDB (a writer
    takes it for its transaction), a lock on every balance row on PostgreSQL (a writer locks the rows it
    touches)."""
    if not store.is_postgres:
        with store.write_lock():
            yield
        return
    with store.connect() as conn, conn.transaction():
        conn.execute("SELECT 1 FROM ledger_account_balances FOR UPDATE")
        yield


def _queued(group: GroupCommit) -> int:
    with group._lock:
        return len(group._queue)


def test_waiting_requests_run_together_with_distinct_keys_and_a_keyless_one_alone():
    group = GroupCommit(max_group=8)
    seen: list[list[str]] = []
    release = threading.Event()

    def run_group(requests: list[Request]) -> None:
        seen.append([r.item for r in requests])
        if len(seen) == 1:
            assert release.wait(120)  # hold the first group until everyone else is queued
        for r in requests:
            r.finish(result=r.item.upper())

    results: dict[str, str] = {}

    def submit(item, key):
        results[item] = group.submit(item, key, run_group)

    first = threading.Thread(target=submit, args=("a1", "a"))
    first.start()
    _wait_for(lambda: len(seen) == 1)
    threads = [first]
    for n, (item, key) in enumerate([("b1", "b"), ("a2", "a"), ("b2", "b"), ("none", None), ("c1", "c")], start=1):
        thread = threading.Thread(target=submit, args=(item, key))
        thread.start()
        threads.append(thread)
        _wait_for(lambda n=n: _queued(group) == n)  # queued in this order
    release.set()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert seen == [["a1"], ["b1", "a2", "c1"], ["b2"], ["none"]]
    assert results == {item: item.upper() for item in ("a1", "b1", "a2", "b2", "none", "c1")}
    assert (group.groups_run, group.requests_run) == (4, 6)


def test_each_caller_gets_its_own_error_and_a_failing_group_does_not_strand_the_next():
    group = GroupCommit()
    release = threading.Event()
    calls = []

    def run_group(requests: list[Request]) -> None:
        calls.append([r.item for r in requests])
        if len(calls) == 1:
            assert release.wait(120)
            raise ConnectionError("the database went away")
        for r in requests:
            if r.item == "bad":
                r.finish(error=ValueError("refused: bad"))
            else:
                r.finish(result="ok " + r.item)

    outcomes: dict[str, object] = {}

    def submit(item):
        try:
            outcomes[item] = group.submit(item, item, run_group)
        except Exception as exc:  # noqa: BLE001 - what each caller sees is the point
            outcomes[item] = exc

    threads = [threading.Thread(target=submit, args=("first",))]
    threads[0].start()
    _wait_for(lambda: len(calls) == 1)
    for n, item in enumerate(("good", "bad"), start=1):
        threads.append(threading.Thread(target=submit, args=(item,)))
        threads[-1].start()
        _wait_for(lambda n=n: _queued(group) == n)
    release.set()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert isinstance(outcomes["first"], ConnectionError)
    assert outcomes["good"] == "ok good"
    assert isinstance(outcomes["bad"], ValueError) and "refused: bad" in str(outcomes["bad"])
    assert calls == [["first"], ["good", "bad"]]


def _write(external_id: str, debit: str, credit: str, amount: int, *, quarantine: bool = False,
           actor: str = "alice") -> Request:
    tx = TransactionInput([EntryInput(debit, "debit", amount), EntryInput(credit, "credit", amount)],
                          external_id=external_id)
    return Request(_PendingWrite(tx, tx.raw_rows(), quarantine, actor), external_id)


def _audit(store) -> list[tuple]:
    with store.connect() as conn:
        return conn.all("SELECT object_type, actor, request_hash FROM audit_log WHERE action = 'post_transaction'")


def test_a_group_posts_in_one_transaction_with_an_audit_row_per_write(store, chart):
    group = [_write(f"g-{i}", "cash", "revenue", 100 * i, actor=f"writer-{i}") for i in range(1, 4)]
    with open_writer(store) as writer:
        writer._post_group(group)
    assert [(r.result.external_id, r.result.action, r.result.status) for r in group] == [
        ("g-1", "create", "posted"), ("g-2", "create", "posted"), ("g-3", "create", "posted")]
    assert all(r.error is None for r in group)
    assert amounts(store) == {"cash": 600, "revenue": 600}
    audit = _audit(store)
    assert sorted(a[:2] for a in audit) == [("group", "writer-1"), ("group", "writer-2"), ("group", "writer-3")]
    assert len({a[2] for a in audit}) == 3  # each write's own payload hash
    with store.connect() as conn:
        ids = {r[0] for r in conn.all("SELECT id FROM ledger_transactions")}
        batches = conn.all("SELECT count(DISTINCT batch_id) FROM ledger_transactions")
    assert ids == {r.result.id for r in group} and batches == [(1,)]
    # the same writes again are no-ops, still each with its own result
    again = [_write(f"g-{i}", "cash", "revenue", 100 * i) for i in range(1, 4)]
    with open_writer(store) as writer:
        writer._post_group(again)
    assert [r.result.action for r in again] == ["noop"] * 3
    assert [r.result.id for r in again] == [r.result.id for r in group]
    assert invariant_violations(store) == []


def test_a_refused_write_sends_its_group_back_to_single_writes(store, chart):
    group = [_write("ok-1", "cash", "revenue", 100), _write("bad", "cash", "no_such_account", 100),
             _write("ok-2", "cash", "revenue", 200), _write("kept", "nowhere", "revenue", 5, quarantine=True)]
    with open_writer(store) as writer:
        writer._post_group(group)
    ok1, bad, ok2, kept = group
    assert (ok1.result.action, ok2.result.action) == ("create", "create")
    assert isinstance(bad.error, RuleViolation) and isinstance(kept.error, RuleViolation)
    assert {v.reason_code for v in bad.error.violations} == {"unknown_account"}
    assert amounts(store) == {"cash": 300, "revenue": 300}
    # only the write that asked for it is quarantined; the group's own attempt left nothing behind
    assert counts(store) == {"ledger_transactions": 2, "ledger_entries": 4, "quarantine": 1}
    assert sorted(a[0] for a in _audit(store)) == ["batch", "batch", "batch"]  # each alone (one refused, kept)


@pytest.mark.parametrize("writers, per_writer", [(8, 20)])
def test_concurrent_writers_share_groups_and_each_gets_its_transaction(store, chart, writers, per_writer,
                                                                      monkeypatch):
    group = group_for(store)
    before = (group.groups_run, group.requests_run)
    taken: list[int] = []  # the size of each group a leader took
    take = group._take
    monkeypatch.setattr(group, "_take", lambda: (lambda g: taken.append(len(g)) or g)(take()))
    barrier = threading.Barrier(writers)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with open_writer(store, actor=f"writer-{i}") as writer:
                barrier.wait()
                for j in range(per_writer):
                    external_id = f"w{i}-{j}"
                    results[external_id] = writer.post(TransactionInput(
                        [EntryInput("cash", "debit", 1 + j), EntryInput("revenue", "credit", 1 + j)],
                        external_id=external_id)).id
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    with _held_up(store):  # the first group cannot finish until every other writer has queued behind it
        for thread in threads:
            thread.start()
        # the first group is held up; every other writer's first write has queued behind it
        _wait_for(lambda: len(taken) == 1 and taken[0] + _queued(group) == writers, timeout=120)
    for thread in threads:
        thread.join(300)
    assert not errors and not any(t.is_alive() for t in threads)
    groups, requests = group.groups_run - before[0], group.requests_run - before[1]
    assert requests == writers * per_writer and groups < requests  # the queued writes did share a group
    assert max(taken) > 1
    with store.connect() as conn:
        stored = dict(conn.all("SELECT external_id, id FROM ledger_transactions"))
        audited = conn.scalar("SELECT count(*) FROM audit_log WHERE action = 'post_transaction'")
    assert stored == results and audited == writers * per_writer
    total = writers * sum(1 + j for j in range(per_writer))
    assert amounts(store) == {"cash": total, "revenue": total}
    assert invariant_violations(store) == []


def test_a_writer_connection_keeps_only_its_last_write_staged_across_the_periodic_truncate(store, chart, monkeypatch):
    """PostgreSQL writer connections keep staged rows past commit (``ON COMMIT PRESERVE ROWS``) and clear
    them at the next write, with a truncate every ``TRUNCATE_STAGING_EVERY`` writes; DuckDB clears them at
    every write. Either way each write sees only its own rows."""
    from ledger_pipeline.ledger import staging

    monkeypatch.setattr(staging, "TRUNCATE_STAGING_EVERY", 3)
    with open_writer(store, group_commit=False) as writer:
        for i in range(7):
            result = writer.post(TransactionInput([EntryInput("cash", "debit", 10 + i),
                                                   EntryInput("revenue", "credit", 10 + i)], external_id=f"t{i}"))
            assert result.action == "create"
            staged = writer.conn.all("SELECT external_id FROM batch_txs")
            assert staged == [(f"t{i}",)]
    assert amounts(store) == {"cash": sum(10 + i for i in range(7)), "revenue": sum(10 + i for i in range(7))}
