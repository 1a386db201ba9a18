"""Single-transaction writes: ``LedgerWriter`` (a long-lived connection, with group commit across the
threads of a process) and ``post_transaction``. Each write runs the same pipeline as a bulk post
(``pipeline.py``) in a database transaction of its own."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger_pipeline.ledger import staging
from ledger_pipeline.ledger.errors import NotFoundError, RuleViolation
from ledger_pipeline.ledger.events import record_batch_events
from ledger_pipeline.ledger.group_commit import GroupCommit, Request
from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.inputs import EntryInput, TransactionInput, TransactionResult
from ledger_pipeline.ledger.pipeline import run_pipeline, utc_now
from ledger_pipeline.ledger.retries import MAX_WRITE_ATTEMPTS, with_retries
from ledger_pipeline.ledger.stage_input import stage_write
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.ledger.violations import Violation

GROUP_COMMIT_MAX = 64  # transactions run together at most (see LedgerWriter and group_commit.py)


@dataclass(frozen=True)
class _PendingWrite:
    """A single-transaction write as the pipeline stages it, and whose it is."""

    tx: TransactionInput
    rows: list[dict[str, Any]]
    quarantine_on_reject: bool
    actor: str
    record_events: bool = False

    @functools.cached_property
    def payload_hash(self) -> str:  # read by the pipeline and by the group's audit row: computed once
        return hashlib.sha256(json.dumps(self.rows, sort_keys=True, default=str).encode()).hexdigest()


def _group_key(write: _PendingWrite) -> str | None:
    """The staged transaction key of a write (its external_id as given); writes with the same key never
    share a group, and one without (no entries, a blank external_id) runs alone."""
    key = str(write.rows[0]["external_id"]) if write.rows else ""
    return key if key.strip(" ") else None


class _GroupRefused(Exception):
    """A group in which some transaction was refused: rolled back, then each write runs alone."""


def _write_group_audit(conn: Connection, writes: list[_PendingWrite], results: list[TransactionResult],
                       batch_id: str, seq: int) -> None:
    """One audit row per write of a group commit, in one statement of constant text (array parameters);
    ``seq``: the writing transaction's change position."""
    params: dict[str, Any] = {
        "now": utc_now(), "seq": seq, "batch_id": batch_id,
        "ids": [str(uuid.uuid4()) for _ in writes], "actors": [w.actor for w in writes],
        "hashes": [w.payload_hash for w in writes],
        "details": [json.dumps({"batch_id": batch_id, "group_size": len(writes), "external_id": r.external_id,
                                "transaction_id": r.id, "action": r.action}, sort_keys=True) for r in results],
    }
    arrays = ("CAST(:ids AS TEXT[])", "CAST(:actors AS TEXT[])", "CAST(:hashes AS TEXT[])", "CAST(:details AS TEXT[])")
    rows = conn.engine.zip_arrays(arrays, ("id", "actor", "hash", "detail"))
    source = (f"SELECT u.id, CAST(:now AS TIMESTAMPTZ), u.actor, 'post_transaction', 'group', :batch_id, u.hash, "
              f"u.detail, :seq FROM ({rows}) u")
    conn.execute("INSERT INTO audit_log (id, occurred_at, actor, action, object_type, object_id, request_hash, "
                 f"detail, change_seq) {source}", params)


class LedgerWriter:
    """A long-lived connection for one-transaction-at-a-time writes (an API handler, an event consumer).

    Each call is its own database transaction. On PostgreSQL, concurrent writers serialise on the balance
    rows of the accounts they touch (locked in id order), so a balance limit holds under any concurrency;
    a race on the same ``external_id`` is resolved by the unique index and a retry that then sees a no-op
    or a conflict. On DuckDB, writers of one process (threads) take turns on a per-file lock when opened
    with ``open_writer`` (see ``Store.write_lock``); a write that loses a race anyway is retried.

    Group commit (writers opened with ``open_writer``; see ``group_commit.py``): when threads of this
    process post at the same time, the waiting transactions (distinct external_ids, up to
    ``GROUP_COMMIT_MAX``) run as one pipeline in one database transaction, which costs about what one of them
    alone would. Each caller still gets its own ``TransactionResult``, and the audit log its own row (object
    ``group``: the shared batch id, this request's hash and outcome). If any of them is refused, or the
    group fails for any other reason, the group is rolled back and each transaction is posted on its own,
    so refusals, their quarantine and their errors are exactly those of a lone write. A lone writer is never
    held back; while writers are concurrent a leader waits 0.2 ms for company (``group_commit.GATHER_S``).
    """

    def __init__(self, conn: Connection, actor: str = "api", lock: AbstractContextManager | None = None,
                 group: GroupCommit | None = None, record_events: bool = False):
        self.conn = conn
        self.actor = actor
        self.record_events = record_events  # ledger_transaction.created/posted/archived, in the write's transaction
        self._lock = lock if lock is not None else nullcontext()
        self._group = group
        # created outside any transaction, so a refused first write cannot undo them
        staging.reset_staging(conn, writer=True)

    def post(self, tx: TransactionInput, *, quarantine_on_reject: bool = False) -> TransactionResult:
        """Create a transaction (or apply a pending -> posted | archived transition, or no-op on a repeat).

        Raises ``RuleViolation`` with every broken rule when refused; with ``quarantine_on_reject`` the
        refused payload is also kept in quarantine for replay.
        """
        pending = _PendingWrite(tx, tx.raw_rows(), quarantine_on_reject, self.actor, self.record_events)
        if self._group is None:
            return self._post_alone(pending)
        return self._group.submit(pending, _group_key(pending), self._post_group)

    def _post_alone(self, pending: _PendingWrite) -> TransactionResult:
        # a concurrent insert of the same external_id (PostgreSQL) or a write-write conflict on a balance row
        # (DuckDB's optimistic concurrency): the retry sees the other write committed
        return with_retries(lambda: self._post_once(pending), MAX_WRITE_ATTEMPTS, 0.002,
                            self.conn.engine.is_retryable)

    def _post_once(self, pending: _PendingWrite) -> TransactionResult:
        tx = pending.tx
        with self._transaction() as conn:
            seq = stage_write(conn, pending.rows)
            result = run_pipeline(conn, default_ledger=tx.ledger, source=tx.source, actor=pending.actor,
                                   action="post_transaction", request_hash=pending.payload_hash, seq=seq)
            if result.violations and not pending.quarantine_on_reject:
                raise RuleViolation(result.violations)
            with conn.pipelined():  # the events and the outcome's read: one round trip
                if pending.record_events:
                    record_batch_events(conn, seq=seq)
                row = conn.one(
                    "SELECT COALESCE(t.existing_id, t.new_id), t.external_id, t.status, t.action FROM batch_txs t"
                )
        if result.violations:
            raise RuleViolation(result.violations)
        return TransactionResult(id=row[0], external_id=row[1], status=row[2], action=row[3])

    def _post_group(self, group: list[Request]) -> None:
        """``GroupCommit``'s ``run_group``, on the leading writer's connection: all together when they all
        post, otherwise each alone. Finishes every request."""
        if len(group) > 1 and len({request.item.record_events for request in group}) == 1:
            try:
                results = self._post_together([request.item for request in group])
            except Exception:  # noqa: BLE001 - any failure of the group: each write again on its own
                results = None
            if results is not None:
                for request, result in zip(group, results, strict=True):
                    request.finish(result=result)
                return
        for request in group:
            try:
                request.finish(result=self._post_alone(request.item))
            except Exception as exc:  # noqa: BLE001 - the caller's own error, raised in its thread
                request.finish(error=exc)

    def _post_together(self, writes: list[_PendingWrite]) -> list[TransactionResult] | None:
        """Post ``writes`` (distinct external_ids) in one pipeline run and database transaction. Returns
        ``None``, having written nothing, when any of them is refused."""
        rows: list[dict[str, Any]] = []
        for write in writes:  # lines numbered across the group: they number the new ids (ids.py)
            offset = len(rows)
            rows.extend([{**row, "line": offset + i} for i, row in enumerate(write.rows, start=1)])

        def attempt() -> list[TransactionResult]:
            with self._transaction() as conn:
                seq = stage_write(conn, rows)
                result = run_pipeline(conn, default_ledger=writes[0].tx.ledger, source=None, actor=self.actor,
                                       action="post_transaction", request_hash=None, audit=False, seq=seq)
                if result.quarantined or result.violations:
                    raise _GroupRefused
                with conn.pipelined():  # the events and the outcomes' read: one round trip
                    if writes[0].record_events:
                        record_batch_events(conn, seq=seq)
                    outcome = {
                        key: TransactionResult(id=tx_id, external_id=external_id, status=status, action=action)
                        for key, tx_id, external_id, status, action in conn.all(
                            "SELECT tx_key, COALESCE(existing_id, new_id), external_id, status, action FROM batch_txs")
                    }
                results = [outcome[_group_key(write)] for write in writes]
                _write_group_audit(conn, writes, results, result.batch_id, seq)
            return results

        try:
            return with_retries(attempt, MAX_WRITE_ATTEMPTS, 0.002, self.conn.engine.is_retryable)
        except _GroupRefused:
            return None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._lock, self.conn.transaction():
            yield self.conn

    def transition(self, transaction_id: str, status: str, *, quarantine_on_reject: bool = False
                   ) -> TransactionResult:
        """Move a pending transaction to ``posted`` or ``archived`` (rule 6 refuses anything else);
        ``quarantine_on_reject`` as for ``post``."""
        found = self.conn.dicts(
            "SELECT t.external_id, l.name AS ledger FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
            f"WHERE t.id = {uuid_or_null(':id')} OR t.external_id = :id", {"id": transaction_id}
        )
        if not found:
            raise NotFoundError(f"ledger transaction {transaction_id} not found")
        original = load_transaction_input(self.conn, found[0]["external_id"], found[0]["ledger"])
        return self.post(replace(original, status=status), quarantine_on_reject=quarantine_on_reject)

    def reverse(self, transaction_id: str, *, external_id: str | None = None,
                effective_at: datetime | None = None, description: str | None = None,
                quarantine_on_reject: bool = False) -> TransactionResult:
        """Correct a posted transaction by a new one with every entry's direction flipped.

        The reversal's external_id defaults to ``<original external_id>:reversal`` and its effective time to
        now, so calling this again (after a timeout, say) is a no-op that returns the same reversal. Only a
        posted transaction can be reversed: a pending one is cancelled by archiving it
        (``invalid_status_transition`` otherwise). Balance limits apply to the reversal like to any write;
        ``quarantine_on_reject`` as for ``post``.
        """
        found = self.conn.dicts(
            "SELECT t.id, t.external_id, t.status, l.name AS ledger FROM ledger_transactions t "
            f"JOIN ledgers l ON l.id = t.ledger_id WHERE t.id = {uuid_or_null(':id')} OR t.external_id = :id",
            {"id": transaction_id}
        )
        if not found:
            raise NotFoundError(f"ledger transaction {transaction_id} not found")
        if found[0]["status"] != "posted":
            raise RuleViolation([Violation(
                found[0]["external_id"], None, "invalid_status_transition",
                f"transaction {found[0]['external_id']} is {found[0]['status']}; only a posted transaction can be "
                "reversed (archive a pending one instead)",
            )])
        original = load_transaction_input(self.conn, found[0]["external_id"], found[0]["ledger"])
        flipped = [
            EntryInput(e.account, "credit" if e.direction == "debit" else "debit", e.amount, e.currency)
            for e in original.entries
        ]
        return self.post(TransactionInput(
            entries=flipped,
            external_id=external_id or f"{found[0]['external_id']}:reversal",
            ledger=found[0]["ledger"],
            status="posted",
            effective_at=effective_at,  # None: now for a new reversal, the stored one's on a repeat
            description=description or f"Reversal of {found[0]['external_id']}",
            metadata=original.metadata,
            source=original.source,
            reverses_id=found[0]["id"],
        ), quarantine_on_reject=quarantine_on_reject)


def load_transaction_input(conn: Connection, external_id: str, ledger: str) -> TransactionInput:
    """Rebuild the input of a stored transaction (for transitions and reversals)."""
    rows = conn.dicts(
        "SELECT t.external_id, t.status, t.effective_at, t.description, t.metadata, t.source, t.ledgerable_type, "
        "t.ledgerable_id, t.reverses_id, a.id AS account, e.direction, e.amount, e.currency "
        "FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
        "JOIN ledger_entries e ON e.ledger_transaction_id = t.id "
        "JOIN ledger_accounts a ON a.id = e.ledger_account_id "
        "WHERE t.external_id = :external_id AND l.name = :ledger ORDER BY e.id",
        {"external_id": external_id, "ledger": ledger},
    )
    if not rows:
        raise NotFoundError(f"ledger transaction {external_id} not found in ledger {ledger}")
    first = rows[0]
    return TransactionInput(
        entries=[EntryInput(r["account"], r["direction"], int(r["amount"]), r["currency"]) for r in rows],
        external_id=first["external_id"],
        ledger=ledger,
        status=first["status"],
        effective_at=first["effective_at"],
        description=first["description"],
        metadata=first["metadata"],
        source=first["source"],
        ledgerable_type=first["ledgerable_type"],
        ledgerable_id=first["ledgerable_id"],
        reverses_id=first["reverses_id"],
    )


@contextmanager
def open_writer(store: Store, actor: str = "api", *, group_commit: bool | None = None,
                record_events: bool = False) -> Iterator[LedgerWriter]:
    """A ``LedgerWriter`` on its own connection. ``group_commit`` (default: on, unless the environment sets
    ``LEDGER_GROUP_COMMIT=off``) lets concurrent writers of this process to the same store post together;
    ``record_events``: each write records its ``ledger_transaction.*`` events (for outbound webhooks)."""
    if group_commit is None:
        group_commit = os.environ.get("LEDGER_GROUP_COMMIT", "on").lower() not in ("off", "0", "false", "no")
    with store.connect() as conn:
        yield LedgerWriter(conn, actor=actor, lock=store.write_lock(),
                           group=group_for(store) if group_commit else None, record_events=record_events)


_GROUPS: dict[str, GroupCommit] = {}
_GROUPS_GUARD = threading.Lock()


def group_for(store: Store) -> GroupCommit | None:
    """The process's group commit for ``store`` (one per database; none for an in-memory DuckDB, which
    every connection sees as its own database)."""
    key = store.engine.group_key()
    if key is None:
        return None
    with _GROUPS_GUARD:
        return _GROUPS.setdefault(key, GroupCommit(GROUP_COMMIT_MAX))


def post_transaction(store: Store, tx: TransactionInput, *, actor: str = "api") -> TransactionResult:
    """Post one transaction on its own connection (see ``LedgerWriter`` to post many)."""
    with open_writer(store, actor=actor) as writer:
        return writer.post(tx)
