"""Internal accounts (the company's bank accounts), external accounts (counterparties), and their link to
ledger accounts through the ledger account's ``ledgerable_type``/``ledgerable_id`` (Modern Treasury's model).

Creation is idempotent by name: the same definition again returns the existing id; a different
``account_identifier`` or currency for an existing name is an error. A ledger account is linked to at most
one internal or external account; linking it again to the same one is a no-op.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.errors import LedgerError, NotFoundError
from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.posting import write_audit
from ledger_pipeline.ledger.store import Connection

INTERNAL = "internal_account"
EXTERNAL = "external_account"
_TABLES = {INTERNAL: "internal_accounts", EXTERNAL: "external_accounts"}


def _now() -> datetime:
    return datetime.now(UTC)


def ensure_internal_account(conn: Connection, name: str, account_identifier: str, currency: str, *,
                            bank_name: str | None = None, metadata: Mapping[str, Any] | None = None,
                            actor: str = "system") -> str:
    """Return the id of internal account ``name``, creating it if missing. ``account_identifier`` is the
    account number as the bank's statements name it (BAI2 customer account number, IBAN, OFX ACCTID...)."""
    existing = conn.dicts("SELECT id, account_identifier, currency FROM internal_accounts WHERE name = :name",
                          {"name": name})
    if existing:
        row = existing[0]
        if (row["account_identifier"], row["currency"]) != (account_identifier, currency.upper()):
            raise LedgerError(f"internal account {name} exists with identifier {row['account_identifier']} "
                              f"in {row['currency']}; refusing to redefine it")
        return row["id"]
    holder = conn.scalar("SELECT name FROM internal_accounts WHERE account_identifier = :identifier",
                         {"identifier": account_identifier})
    if holder is not None:
        raise LedgerError(f"account identifier {account_identifier} belongs to internal account {holder}")
    return _insert(conn, INTERNAL, {
        "name": name, "account_identifier": account_identifier, "bank_name": bank_name,
        "currency": currency.upper(), "metadata": json.dumps(dict(metadata or {}), sort_keys=True),
    }, actor)


def ensure_external_account(conn: Connection, name: str, currency: str, *, account_identifier: str | None = None,
                            party_name: str | None = None, metadata: Mapping[str, Any] | None = None,
                            actor: str = "system") -> str:
    """Return the id of external account ``name`` (a counterparty's account), creating it if missing."""
    existing = conn.dicts("SELECT id, currency FROM external_accounts WHERE name = :name", {"name": name})
    if existing:
        if existing[0]["currency"] != currency.upper():
            raise LedgerError(f"external account {name} exists in {existing[0]['currency']}; refusing to redefine it")
        return existing[0]["id"]
    return _insert(conn, EXTERNAL, {
        "name": name, "account_identifier": account_identifier, "party_name": party_name,
        "currency": currency.upper(), "metadata": json.dumps(dict(metadata or {}), sort_keys=True),
    }, actor)


def _insert(conn: Connection, kind: str, values: dict[str, Any], actor: str) -> str:
    table = _TABLES[kind]
    account_id = str(uuid.uuid4())
    now = _now()
    seq = conn.change_seq()
    row = {"id": account_id, **values, "created_at": now, "updated_at": now, "change_seq": seq}
    columns = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})", row)
    write_audit(conn, actor=actor, action="create", object_type=kind, object_id=account_id, request_hash=None,
                detail={"name": values["name"]}, seq=seq, now=now)
    return account_id


def resolve_account(conn: Connection, kind: str, ref: str) -> str:
    """The id of an internal/external account given its id or name."""
    found = conn.scalar(f"SELECT id FROM {_TABLES[kind]} WHERE id = :ref OR name = :ref", {"ref": ref})
    if not found:
        raise NotFoundError(f"{kind.replace('_', ' ')} {ref!r} not found")
    return found


def link_ledger_account(conn: Connection, ledger_account: str, kind: str, account: str, *,
                        ledger: str = "main", actor: str = "system") -> str:
    """Link ledger account ``ledger_account`` (name or id, in ``ledger``) to an internal or external account.

    Returns the ledger account's id. A ledger account already linked elsewhere is an error (relinking would
    silently move its reconciliation history); so is an internal account already linked to another ledger
    account in the same ledger."""
    if kind not in _TABLES:
        raise ValueError(f"kind must be {INTERNAL} or {EXTERNAL}, not {kind!r}")
    account_id = resolve_account(conn, kind, account)
    rows = conn.dicts(
        "SELECT a.id, a.ledger_id, a.ledgerable_type, a.ledgerable_id, a.currency FROM ledger_accounts a "
        "JOIN ledgers l ON l.id = a.ledger_id WHERE l.name = :ledger "
        f"AND (a.name = :ref OR a.id = {uuid_or_null(':ref')})",
        {"ledger": ledger, "ref": ledger_account})
    if not rows:
        raise NotFoundError(f"ledger account {ledger_account!r} not found in ledger {ledger!r}")
    row = rows[0]
    if row["ledgerable_type"] == kind and row["ledgerable_id"] == account_id:
        return row["id"]
    if row["ledgerable_id"] is not None:
        raise LedgerError(f"ledger account {ledger_account} is already linked to "
                          f"{row['ledgerable_type']} {row['ledgerable_id']}")
    other = conn.scalar(
        "SELECT name FROM ledger_accounts WHERE ledger_id = :ledger_id AND ledgerable_type = :kind "
        "AND ledgerable_id = :account_id", {"ledger_id": row["ledger_id"], "kind": kind, "account_id": account_id})
    if other:
        raise LedgerError(f"{kind.replace('_', ' ')} {account} is already linked to ledger account {other}")
    currency = conn.scalar(f"SELECT currency FROM {_TABLES[kind]} WHERE id = :id", {"id": account_id})
    if currency != row["currency"]:
        raise LedgerError(f"ledger account {ledger_account} is in {row['currency']}, the "
                          f"{kind.replace('_', ' ')} in {currency}")
    now = _now()
    seq = conn.change_seq()
    conn.execute(
        "UPDATE ledger_accounts SET ledgerable_type = :kind, ledgerable_id = :account_id, updated_at = :now, "
        "change_seq = :seq WHERE id = :id",
        {"kind": kind, "account_id": account_id, "now": now, "seq": seq, "id": row["id"]})
    write_audit(conn, actor=actor, action="link", object_type="ledger_account", object_id=row["id"],
                request_hash=None, detail={"ledgerable_type": kind, "ledgerable_id": account_id}, seq=seq, now=now)
    return row["id"]


LINKED_INTERNAL_SQL = """
SELECT i.id, i.name, i.account_identifier, i.currency, a.id AS ledger_account_id, a.name AS ledger_account_name,
       a.normal_balance
FROM internal_accounts i
LEFT JOIN ledger_accounts a ON a.ledgerable_type = 'internal_account' AND a.ledgerable_id = i.id
WHERE CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account OR a.name = :account
ORDER BY i.name
"""
