"""The lookups every category change and query shares: a category or account of one ledger (never of another),
the recursive walks up and down the hierarchy, the per-ledger lock that serialises hierarchy changes, and the
audit row each change writes (``object_type`` ``ledger_account_category``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.errors import LedgerError, NotFoundError
from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.pipeline import write_audit
from ledger_pipeline.ledger.store import Connection

OBJECT_TYPE = "ledger_account_category"


def utc_now() -> datetime:
    return datetime.now(UTC)


def ledger_id_of(conn: Connection, ledger: str) -> str:
    ledger_id = conn.scalar("SELECT id FROM ledgers WHERE name = :name", {"name": ledger})
    if not ledger_id:
        raise NotFoundError(f"ledger {ledger!r} does not exist")
    return ledger_id


def audit(conn: Connection, action: str, category_id: str, detail: Mapping[str, Any], actor: str,
          seq: int, now: datetime) -> None:
    write_audit(conn, actor=actor, action=action, object_type=OBJECT_TYPE, object_id=category_id,
                request_hash=None, detail=detail, seq=seq, now=now)


def of_ledger(conn: Connection, kind: str, table: str, columns: str, ledger: str, ref: str,
              holds: str) -> dict[str, Any]:
    """The row of ``table`` named or with the id ``ref`` in ``ledger``; NotFoundError if none. One found by id in
    another ledger is refused by name, so a hierarchy never crosses ledgers."""
    rows = conn.dicts(
        f"SELECT {columns}, l.name AS ledger FROM {table} x JOIN ledgers l ON l.id = x.ledger_id "
        f"WHERE (l.name = :ledger AND x.name = :ref) OR x.id = {uuid_or_null(':ref')} ORDER BY l.name = :ledger DESC",
        {"ledger": ledger, "ref": ref})
    if not rows:
        raise NotFoundError(f"{kind} {ref!r} not found in ledger {ledger!r}")
    row = rows[0]
    if row["ledger"] != ledger:
        raise LedgerError(f"{kind} {row['name']} ({row['id']}) is in ledger {row['ledger']}, not {ledger}: "
                          f"a category holds only {holds} of its own ledger")
    return row


def find_category(conn: Connection, ledger: str, category: str) -> dict[str, Any]:
    """Category ``category`` (name or id) of ``ledger``; NotFoundError if none, LedgerError if of another ledger."""
    return of_ledger(conn, "category", "ledger_account_categories",
                     "x.id, x.ledger_id, x.name, x.description, x.normal_balance, x.currency, x.metadata, "
                     "x.archived_at, x.created_at, x.updated_at", ledger, category, "accounts and categories")


def find_account(conn: Connection, ledger: str, account: str) -> dict[str, Any]:
    return of_ledger(conn, "account", "ledger_accounts", "x.id, x.name, x.currency", ledger, account, "accounts")


def lock_hierarchy(conn: Connection, ledger_id: str) -> None:
    """Serialise the hierarchy changes of one ledger (a row lock on the ledger on PostgreSQL; DuckDB has one
    writer), so that two concurrent additions cannot together close a cycle or mix currencies."""
    conn.execute("UPDATE ledgers SET description = description WHERE id = :id", {"id": ledger_id})


def walk(cte: str, towards: str, away: str) -> str:
    """A recursive CTE ``cte(category_id)`` of the categories reached from ``:start`` (itself included) by
    following memberships in force from their ``away`` side to their ``towards`` side."""
    return (f"\nWITH RECURSIVE {cte}(category_id) AS (\n    SELECT CAST(:start AS UUID)\n    UNION\n"
            f"    SELECT h.{towards} FROM ledger_account_category_children h JOIN {cte} ON h.{away} = {cte}.category_id\n"
            "    WHERE h.removed_at IS NULL\n)\n")


# The categories at or above ``:start``, and those at or below it.
ANCESTORS = walk("up", "parent_category_id", "child_category_id")
DESCENDANTS = walk("down", "child_category_id", "parent_category_id")
