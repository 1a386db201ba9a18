"""Ledgers and ledger accounts: creation (idempotent by name), lookup, archiving.

Creating something that exists with the same attributes returns it unchanged; with other attributes it is
an error, so a chart of accounts can be applied any number of times.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.errors import LedgerError, NotFoundError
from ledger_pipeline.ledger.money import currency_exponent
from ledger_pipeline.ledger.pipeline import write_audit
from ledger_pipeline.ledger.store import Connection


@dataclass(frozen=True)
class AccountSpec:
    name: str
    normal_balance: str
    currency: str
    currency_exponent: int | None = None
    description: str | None = None
    metadata: Mapping[str, Any] | None = None
    ledgerable_type: str | None = None
    ledgerable_id: str | None = None
    min_available_balance: int | None = None
    max_available_balance: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def ensure_ledger(conn: Connection, name: str, description: str | None = None,
                  metadata: Mapping[str, Any] | None = None, actor: str = "system") -> str:
    """Return the id of ledger ``name``, creating it if missing."""
    existing = conn.scalar("SELECT id FROM ledgers WHERE name = :name", {"name": name})
    if existing:
        return existing
    ledger_id = str(uuid.uuid4())
    now = _now()
    seq = conn.change_seq()
    conn.execute(
        "INSERT INTO ledgers (id, name, description, metadata, created_at, updated_at, change_seq) "
        "VALUES (:id, :name, :description, :metadata, :now, :now, :seq)",
        {"id": ledger_id, "name": name, "description": description,
         "metadata": json.dumps(dict(metadata or {}), sort_keys=True), "now": now, "seq": seq},
    )
    write_audit(conn, actor=actor, action="create", object_type="ledger", object_id=ledger_id,
                request_hash=None, detail={"name": name}, seq=seq, now=now)
    return ledger_id


def ensure_account(conn: Connection, ledger: str, spec: AccountSpec, actor: str = "system") -> str:
    """Return the id of account ``spec.name`` in ``ledger``, creating it (and its balance row) if missing."""
    ledger_id = conn.scalar("SELECT id FROM ledgers WHERE name = :name", {"name": ledger})
    if not ledger_id:
        raise NotFoundError(f"ledger {ledger!r} does not exist")
    if spec.normal_balance not in ("credit", "debit"):
        raise LedgerError(f"account {spec.name}: normal_balance must be credit or debit, not {spec.normal_balance!r}")
    currency = spec.currency.upper()
    exponent = spec.currency_exponent if spec.currency_exponent is not None else currency_exponent(currency)
    existing = conn.dicts(
        "SELECT id, normal_balance, currency, currency_exponent FROM ledger_accounts "
        "WHERE ledger_id = :ledger_id AND name = :name",
        {"ledger_id": ledger_id, "name": spec.name},
    )
    if existing:
        row = existing[0]
        if (row["normal_balance"], row["currency"], row["currency_exponent"]) != (spec.normal_balance, currency, exponent):
            raise LedgerError(
                f"account {spec.name} exists in ledger {ledger} as {row['normal_balance']}-normal "
                f"{row['currency']} (exponent {row['currency_exponent']}); refusing to redefine it"
            )
        return row["id"]
    account_id = str(uuid.uuid4())
    now = _now()
    seq = conn.change_seq()
    conn.execute(
        "INSERT INTO ledger_accounts (id, ledger_id, name, description, normal_balance, currency, currency_exponent, "
        "metadata, ledgerable_type, ledgerable_id, min_available_balance, max_available_balance, archived_at, "
        "created_at, updated_at, change_seq) VALUES (:id, :ledger_id, :name, :description, :normal_balance, "
        ":currency, :exponent, :metadata, :ledgerable_type, :ledgerable_id, :min_available, :max_available, NULL, "
        ":now, :now, :seq)",
        {
            "id": account_id, "ledger_id": ledger_id, "name": spec.name, "description": spec.description,
            "normal_balance": spec.normal_balance, "currency": currency, "exponent": exponent,
            "metadata": json.dumps(dict(spec.metadata or {}), sort_keys=True),
            "ledgerable_type": spec.ledgerable_type, "ledgerable_id": spec.ledgerable_id,
            "min_available": spec.min_available_balance, "max_available": spec.max_available_balance,
            "now": now, "seq": seq,
        },
    )
    conn.execute(
        "INSERT INTO ledger_account_balances (ledger_account_id, updated_at, change_seq) VALUES (:id, :now, :seq)",
        {"id": account_id, "now": now, "seq": seq},
    )
    write_audit(conn, actor=actor, action="create", object_type="ledger_account", object_id=account_id,
                request_hash=None, detail={"ledger": ledger, "name": spec.name, "currency": currency}, seq=seq,
                now=now)
    return account_id


def archive_account(conn: Connection, ledger: str, name: str, actor: str = "system") -> None:
    """Archive an account: it keeps its history and balances but takes no new entries (rule 4)."""
    now = _now()
    seq = conn.change_seq()
    account_id = conn.scalar(
        "SELECT a.id FROM ledger_accounts a JOIN ledgers l ON l.id = a.ledger_id WHERE l.name = :ledger "
        "AND a.name = :name", {"ledger": ledger, "name": name})
    if not account_id:
        raise NotFoundError(f"account {name!r} not found in ledger {ledger!r}")
    conn.execute(
        "UPDATE ledger_accounts SET archived_at = :now, updated_at = :now, change_seq = :seq WHERE id = :id",
        {"now": now, "seq": seq, "id": account_id},
    )
    write_audit(conn, actor=actor, action="archive", object_type="ledger_account", object_id=account_id,
                request_hash=None, detail={"ledger": ledger, "name": name}, seq=seq, now=now)


def set_balance_limits(conn: Connection, account_id: str, *, min_available: int | None,
                       max_available: int | None, actor: str = "system") -> None:
    seq = conn.change_seq()
    now = _now()
    conn.execute(
        "UPDATE ledger_accounts SET min_available_balance = :min, max_available_balance = :max, "
        "updated_at = :now, change_seq = :seq WHERE id = :id",
        {"min": min_available, "max": max_available, "now": now, "seq": seq, "id": account_id},
    )
    write_audit(conn, actor=actor, action="set_limits", object_type="ledger_account", object_id=account_id,
                request_hash=None, detail={"min_available": min_available, "max_available": max_available},
                seq=seq, now=now)
