"""An operator's changes to accounts and quarantine that the core has no single function for: an account's
description and metadata, its balance limits by name, and discarding a quarantined record. Each change
writes an audit row in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.accounts import set_balance_limits
from ledger_pipeline.ledger.errors import InputError, NotFoundError
from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.posting import write_audit
from ledger_pipeline.ledger.quarantine import discard_quarantine
from ledger_pipeline.ledger.store import Connection


def find_account(conn: Connection, ledger: str, account: str) -> dict[str, Any]:
    """Account ``account`` (name or id) of ``ledger``, with its currency, limits and metadata; NotFoundError if
    none."""
    rows = conn.dicts(
        "SELECT a.id, a.name, a.description, a.metadata, a.min_available_balance, a.max_available_balance, "
        "a.currency, a.currency_exponent, a.archived_at FROM ledger_accounts a JOIN ledgers l ON l.id = a.ledger_id "
        f"WHERE l.name = :ledger AND (a.name = :account OR a.id = {uuid_or_null(':account')})",
        {"ledger": ledger, "account": account})
    if not rows:
        raise NotFoundError(f"account {account!r} not found in ledger {ledger!r}")
    return rows[0]


def merged_metadata(stored: str | None, changes: Mapping[str, str] | None) -> dict[str, Any]:
    """Stored metadata (JSON text) with ``changes`` merged in: a key with an empty value is removed."""
    merged = json.loads(stored or "{}")
    for key, value in (changes or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def update_account(conn: Connection, ledger: str, account: str, *, description: str | None = None,
                   metadata: Mapping[str, str] | None = None, actor: str = "system") -> str:
    """Set an account's description and/or merge ``metadata`` keys into its metadata (a key with an empty
    value is removed). Returns the account id."""
    row = find_account(conn, ledger, account)
    merged = merged_metadata(row["metadata"], metadata)
    now = datetime.now(UTC)
    seq = conn.change_seq()
    conn.execute(
        "UPDATE ledger_accounts SET description = COALESCE(:description, description), metadata = :metadata, "
        "updated_at = :now, change_seq = :seq WHERE id = :id",
        {"description": description, "metadata": json.dumps(merged, sort_keys=True), "now": now, "seq": seq,
         "id": row["id"]})
    write_audit(conn, actor=actor, action="update", object_type="ledger_account", object_id=row["id"],
                request_hash=None, detail={"description": description, "metadata": dict(metadata or {})},
                seq=seq, now=now)
    return row["id"]


def set_account_limits(conn: Connection, ledger: str, account: str, *, min_available: int | None,
                       max_available: int | None, clear: bool = False, actor: str = "system") -> dict[str, Any]:
    """Set an account's available-balance limits (minor units); a limit not given keeps its value unless
    ``clear``. Returns the account id, its currency and the limits now in force."""
    row = find_account(conn, ledger, account)
    low = min_available if min_available is not None or clear else row["min_available_balance"]
    high = max_available if max_available is not None or clear else row["max_available_balance"]
    low = None if low is None else int(low)
    high = None if high is None else int(high)
    if low is not None and high is not None and low > high:
        raise InputError(f"account {account}: --min-available {low} is above --max-available {high}")
    set_balance_limits(conn, row["id"], min_available=low, max_available=high, actor=actor)
    return {"id": row["id"], "currency": row["currency"], "currency_exponent": row["currency_exponent"],
            "min_available": low, "max_available": high}


def discard_quarantined(conn: Connection, quarantine_id: str, reason: str, actor: str = "system") -> None:
    """Close an open quarantine item that should never post: it is kept, marked ``discarded`` with
    ``reason``, and no longer replayed; the audit log records who discarded it and why."""
    status = conn.scalar("SELECT status FROM quarantine WHERE id = :id", {"id": quarantine_id})
    if status is None:
        raise NotFoundError(f"quarantine item {quarantine_id} not found")
    if status != "open":
        raise InputError(f"quarantine item {quarantine_id} is {status}; only an open item can be discarded")
    if not reason.strip():
        raise InputError("--reason must say why the item is discarded")
    discard_quarantine(conn, quarantine_id, reason)
    write_audit(conn, actor=actor, action="discard", object_type="quarantine", object_id=quarantine_id,
                request_hash=None, detail={"reason": reason}, seq=conn.change_seq())
