"""API keys: a random token shown once, stored as its sha256 hash with its scopes (``read``, ``write``).

A key with ``write`` may also read. A revoked key is kept (for the audit trail) but no longer authenticates.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.errors import InputError, NotFoundError
from ledger_pipeline.ledger.store import Connection

SCOPES = ("read", "write")
TOKEN_PREFIX = "lp_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(conn: Connection, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; returns it and its token (which is not stored and cannot be shown again)."""
    wanted = set(scopes)
    unknown = wanted - set(SCOPES)
    if not wanted or unknown:
        raise InputError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(sorted(scopes)) or 'none'}")
    if "write" in wanted:
        wanted.add("read")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO api_keys (id, name, token_hash, scopes, created_at, revoked_at, change_seq) "
        "VALUES (:id, :name, :hash, :scopes, :now, NULL, :seq)",
        {"id": key_id, "name": name, "hash": hash_token(token), "scopes": " ".join(sorted(wanted)),
         "now": datetime.now(UTC), "seq": conn.change_seq()},
    )
    return ApiKey(key_id, name, frozenset(wanted)), token


def list_keys(conn: Connection, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Keys without their hashes, oldest first."""
    return conn.dicts(
        "SELECT id, name, scopes, created_at, revoked_at FROM api_keys "
        "WHERE CAST(:all AS BOOLEAN) OR revoked_at IS NULL ORDER BY created_at, id",
        {"all": include_revoked},
    )


def revoke_key(conn: Connection, key_id: str) -> None:
    changed = conn.execute(
        "UPDATE api_keys SET revoked_at = :now, change_seq = :seq WHERE id = :id AND revoked_at IS NULL",
        {"now": datetime.now(UTC), "seq": conn.change_seq(), "id": key_id},
    )
    if changed == 0:
        raise NotFoundError(f"no active API key {key_id}")


def lookup_query(token_hash: str) -> tuple[str, dict[str, Any]]:
    """The statement and parameters finding the active key of a token hash (``hash_token``); its row, if
    any, is the key (``key_of``)."""
    return ("SELECT id, name, scopes FROM api_keys WHERE token_hash = :hash AND revoked_at IS NULL",
            {"hash": token_hash})


def key_of(row: dict[str, Any]) -> ApiKey:
    return ApiKey(row["id"], row["name"], frozenset(row["scopes"].split()))


class KeyCache:
    """Keys the store has verified, by token hash, for ``ttl_s`` seconds: the server spares a query per
    request, and a revoked key keeps working for at most ``ttl_s`` in a server that verified it just
    before. Only valid keys are kept (a new key works at once; a wrong token is looked up every time);
    ``ttl_s`` 0 keeps none (every request looks its key up)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._keys: dict[str, tuple[ApiKey, float]] = {}

    def get(self, token_hash: str) -> ApiKey | None:
        cached = self._keys.get(token_hash)
        if cached is None:
            return None
        if cached[1] <= time.monotonic():
            self._keys.pop(token_hash, None)
            return None
        return cached[0]

    def put(self, token_hash: str, key: ApiKey) -> None:
        if self.ttl_s > 0:
            self._keys[token_hash] = (key, time.monotonic() + self.ttl_s)
