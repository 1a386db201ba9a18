"""The validation pipeline that bulk posts and single writes both run, in set operations inside one
database transaction, on the staged relations (``staging.py``) under the same rules (``rules.py``):

1. stage the raw rows; normalise them and resolve accounts (``batch_entries``); aggregate per transaction
   (``batch_txs``); run the rule registry into ``batch_violations``;
2. classify each transaction: ``create``, ``transition`` (pending -> posted | archived), ``noop`` (the same
   payload again) or ``reject``;
3. lock the touched accounts' balance rows where the engine has row locks (PostgreSQL, in id order: no
   deadlock, no overdraft; ``StoreEngine.lock_touched_balances``), then check balance limits (rule 7) on
   the running balance in batch order;
4. insert transactions and entries, apply transitions, move balances, quarantine the refused with their raw
   rows, write the audit log.

Running the same batch again changes nothing: every transaction is then a ``noop``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa

from ledger_pipeline.ledger import apply_sql, staging
from ledger_pipeline.ledger.batch_input import ParquetSource
from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.ids import id_prefix
from ledger_pipeline.ledger.inputs import MAX_REPORTED_VIOLATIONS, BatchResult
from ledger_pipeline.ledger.rules import (
    LIMIT_EXACT_PASSES,
    balance_overflow,
    limit_violations_sql,
    overflow_possible,
    violations_sql,
)
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.ledger.violations import Violation

# without row locks: whether any account the batch touches has a balance limit
_LIMITED_TOUCHED = (
    "SELECT count(*) FROM ledger_accounts WHERE (min_available_balance IS NOT NULL "
    "OR max_available_balance IS NOT NULL) AND id IN (SELECT ledger_account_id FROM batch_entries)"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch staged (steps 1-2 of the pipeline) and committed before its writing transaction: the
    connection's staging tables hold it. ``now`` is the batch time the staging used."""

    batch: pa.Table | ParquetSource  # what it was staged from
    now: datetime
    counts: Mapping[str, ActionCount]


def run_pipeline(
    conn: Connection, *, default_ledger: str, source: str | None, actor: str, action: str,
    request_hash: str | None, audit: bool = True, seq: int | None = None, prepared: PreparedBatch | None = None,
) -> BatchResult:
    """Validate and apply whatever is in ``stage_raw``. The caller owns the database transaction.

    Amounts are at most 38 digits, and so are the per-currency sums of a transaction and the stored
    balances (NUMERIC(38,0)). A transaction that alone would take one of them past 38 digits is refused and
    quarantined (``balance_overflow``, rule 3). Transactions that each fit but together would take a balance
    past 38 digits refuse the whole write with ``RuleViolation`` (``balance_overflow``); the database
    transaction is rolled back, nothing is written.
    """
    with overflow_refused(conn):
        return _run_pipeline_unchecked(conn, default_ledger=default_ledger, source=source, actor=actor,
                                       action=action, request_hash=request_hash, audit=audit, seq=seq,
                                       prepared=prepared)


@contextmanager
def overflow_refused(conn: Connection) -> Iterator[None]:
    """A sum past 38 digits refuses the whole write: ``RuleViolation`` (``balance_overflow``)."""
    try:
        yield
    except Exception as exc:
        if conn.engine.is_numeric_overflow(exc):
            raise RuleViolation([Violation(
                "batch", None, "balance_overflow",
                "a per-currency sum of a transaction or an account balance would exceed 38 digits "
                f"(NUMERIC(38,0)); nothing was written ({str(exc).splitlines()[0]})",
            )]) from exc
        raise


def _classify(conn: Connection, now: datetime) -> None:
    """Per-transaction aggregates, the rules, and each transaction's action (from ``batch_entries``)."""
    conn.execute(staging.prepare_txs_sql(conn), {"batch_time": now, "tx_id_prefix": id_prefix()})
    stored_hash = staging.stored_hash_sql(conn)
    if stored_hash is not None:
        conn.execute(stored_hash)
    per_row = conn.engine.looks_up_accounts_per_row(conn)
    # first: the other rules' sums skip these; a single write looking accounts up by row runs it outright
    # rather than wait for a round trip that asks whether it could refuse anything
    if per_row or conn.scalar(overflow_possible()):
        conn.execute(f"INSERT INTO batch_violations {balance_overflow(per_row)}")
    conn.execute(f"INSERT INTO batch_violations {violations_sql()}")
    conn.execute(staging.REJECT_NEW_VIOLATORS)


def stage_pipeline(conn: Connection, default_ledger: str, now: datetime) -> dict[str, ActionCount]:
    """Steps 1-2 of the pipeline on what is in ``stage_raw``: entries, aggregates, rules, actions.

    Round trips matter to single writes (~0.2 ms each on PostgreSQL): statements whose row counts are not
    read go out pipelined, and the read of the counts waits for them all.
    """
    with conn.pipelined():
        conn.execute(staging.prepare_entries_sql(conn), {"default_ledger": default_ledger})
        sort_metadata = staging.sort_metadata_sql(conn)
        if sort_metadata is not None:
            conn.execute(sort_metadata)
        _classify(conn, now)
        return action_counts(conn)


def _run_pipeline_unchecked(
    conn: Connection, *, default_ledger: str, source: str | None, actor: str, action: str,
    request_hash: str | None, audit: bool = True, seq: int | None = None, prepared: PreparedBatch | None = None,
) -> BatchResult:
    now = utc_now() if prepared is None else prepared.now
    batch_id = str(uuid.uuid4())
    seq = conn.change_seq() if seq is None else seq  # a caller may have read it already (see _stage_write)
    base = {"now": now, "seq": seq, "batch_id": batch_id, "source": source}
    counts = stage_pipeline(conn, default_ledger, now) if prepared is None else dict(prepared.counts)
    touched_limits, reread = conn.engine.lock_touched_balances(conn, staging.LOCK_BALANCES, _LIMITED_TOUCHED)
    # Statuses read before the locks may be stale: a concurrent writer holding them may have moved one of our
    # pending transactions meanwhile. Any such writer held the same balance locks, so once we have them a
    # second reading is final (applying a stale transition would move balances twice).
    if reread and counts.get("transition") and conn.scalar(staging.STALE_TRANSITIONS):
        conn.execute("DELETE FROM batch_txs")
        conn.execute("DELETE FROM batch_violations")
        _classify(conn, now)
        counts = action_counts(conn)
    if touched_limits:
        # the first pass goes out with the deltas in one round trip; when it refuses nothing (the usual
        # case) the actions, and so their counts, are unchanged
        per_row = conn.engine.looks_up_accounts_per_row(conn)
        _, new, refused = conn.execute_counted([
            (staging.LIMIT_DELTAS, None),
            (f"INSERT INTO batch_violations "
             f"{limit_violations_sql(first_only=LIMIT_EXACT_PASSES >= 1, per_row=per_row)}", None),
            (staging.REJECT_NEW_VIOLATORS, None)])
        changed, passes = new > 0 or refused > 0, 1
        while new > 0 or refused > 0:
            passes += 1
            new = conn.execute(f"INSERT INTO batch_violations "
                               f"{limit_violations_sql(first_only=passes <= LIMIT_EXACT_PASSES, per_row=per_row)}")
            refused = conn.execute(staging.REJECT_NEW_VIOLATORS)
        if changed:
            counts = action_counts(conn)

    created = counts.get("create", NO_ACTION)
    transitioned = counts.get("transition", NO_ACTION)
    rejected = counts.get("reject", NO_ACTION)
    with conn.pipelined():
        if created.transactions:
            conn.execute(apply_sql.INSERT_TRANSACTIONS, base)
            conn.execute(apply_sql.insert_entries_sql(conn), {"now": now, "seq": seq, "entry_id_prefix": id_prefix()})
        if transitioned.transactions:
            conn.execute(apply_sql.TRANSITION_TRANSACTIONS, {"now": now, "seq": seq})
            conn.execute(apply_sql.TRANSITION_ENTRIES, {"seq": seq})
        if created.transactions or transitioned.transactions:
            conn.execute(apply_sql.update_balances_sql(bool(created.transactions), bool(transitioned.transactions)),
                         {"now": now, "seq": seq})
    replayed = 0
    quarantined = 0
    if rejected.transactions:
        conn.execute(apply_sql.quarantine_rejected_sql(conn), base)
        conn.execute(apply_sql.update_still_rejected_sql(), {"seq": seq})
        # every refused transaction is in quarantine: added now, already open from an identical earlier
        # submission, or (when replaying) the open item that was replayed
        quarantined = rejected.transactions
    if any(c.replays for c in counts.values()):
        replayed = max(conn.execute(apply_sql.UPDATE_REPLAYED_QUARANTINE,
                                    {"now": now, "seq": seq, "batch_id": batch_id}), 0)

    entries_in = sum(c.entries for c in counts.values())
    entries_posted = created.entries
    reason_counts: dict[str, int] = {}
    violations: tuple[Violation, ...] = ()
    if rejected.transactions:  # violations are only ever recorded against refused transactions
        reason_counts = dict(conn.all(
            "SELECT reason_code, count(DISTINCT tx_key) FROM batch_violations GROUP BY reason_code ORDER BY 1"
        ))
        violations = tuple(
            Violation(*row)
            for row in conn.all(
                "SELECT tx_key, line, reason_code, detail FROM batch_violations ORDER BY line, reason_code "
                f"LIMIT {MAX_REPORTED_VIOLATIONS}"
            )
        )
    result = BatchResult(
        batch_id=batch_id,
        transactions_in=sum(c.transactions for c in counts.values()),
        entries_in=int(entries_in),
        created=created.transactions,
        transitioned=transitioned.transactions,
        duplicates=counts.get("noop", NO_ACTION).transactions,
        quarantined=quarantined,
        entries_posted=int(entries_posted),
        reason_counts={k: int(v) for k, v in reason_counts.items()},
        violations=violations,
        replayed=replayed,
    )
    if audit:  # a group commit writes one audit row per request instead (writer.LedgerWriter)
        detail = {k: v for k, v in result.as_dict().items() if k != "violations"}
        write_audit(conn, actor=actor, action=action, object_type="batch", object_id=batch_id,
                    request_hash=request_hash, detail=detail, seq=seq, now=now)
    return result


class ActionCount(NamedTuple):
    """How many of a batch's transactions got one action, how many of them are quarantine replays, and
    their entries."""

    transactions: int
    replays: int
    entries: int


NO_ACTION = ActionCount(0, 0, 0)


def action_counts(conn: Connection) -> dict[str, ActionCount]:
    """``ActionCount`` per action (create, transition, noop, reject), in one round trip."""
    return {
        action: ActionCount(int(n), int(replays), int(entries or 0))
        for action, n, replays, entries in conn.all(
            "SELECT action, count(*), count(quarantine_id), sum(n_entries) FROM batch_txs GROUP BY action"
        )
    }


def write_audit(
    conn: Connection, *, actor: str, action: str, object_type: str, object_id: str | None,
    request_hash: str | None, detail: Mapping[str, Any], seq: int, now: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit_log (id, occurred_at, actor, action, object_type, object_id, request_hash, detail, change_seq) "
        "VALUES (:id, :occurred_at, :actor, :action, :object_type, :object_id, :request_hash, :detail, :seq)",
        {
            "id": str(uuid.uuid4()), "occurred_at": now or utc_now(), "actor": actor, "action": action,
            "object_type": object_type, "object_id": object_id, "request_hash": request_hash,
            "detail": json.dumps(detail, sort_keys=True, default=str), "seq": seq,
        },
    )


