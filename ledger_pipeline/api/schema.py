"""The API's tables, part of the store's one metadata (``ledger_pipeline.ledger.schema.METADATA``):

* ``api_keys``: the sha256 hash of a random token (the token itself is shown once, when the key is
  created), with its scopes; revision ``0006``.
* ``webhook_endpoints``: where outbound webhooks go, with each endpoint's delivery state: the position of
  the last event delivered (``cursor_seq``, ``cursor_created_at``, ``cursor_event_id``: events are delivered
  in ``(change_seq, created_at, id)`` order), the failed attempts at the next one and when to try again, and a lease so one worker at a time
  delivers to an endpoint; revision ``0008``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, Table, Text, text

from ledger_pipeline.ledger.schema import METADATA, Timestamp, change_seq, postgres_index, required, text_id

api_keys = Table(
    "api_keys", METADATA,
    text_id(),
    required("name"),
    required("token_hash"),
    required("scopes"),  # space-separated: "read" or "read write"
    required("created_at", Timestamp),
    Column("revoked_at", Timestamp),
    change_seq(),
)

postgres_index("api_keys_token_hash", api_keys, "token_hash", unique=True)

webhook_endpoints = Table(
    "webhook_endpoints", METADATA,
    text_id(),
    required("url"),
    required("secret"),  # the HMAC-SHA256 key of the signatures (the receiver holds it too)
    required("event_types"),  # space-separated, or "*" for every event
    required("created_at", Timestamp),
    required("updated_at", Timestamp),
    Column("removed_at", Timestamp),
    required("cursor_seq", BigInteger),
    Column("cursor_created_at", Timestamp),
    Column("cursor_event_id", Text, nullable=False, server_default=text("''")),
    Column("delivered", BigInteger, nullable=False, server_default=text("0")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Timestamp),
    Column("last_error", Text),
    Column("lease_owner", Text),
    Column("lease_until", Timestamp),
    change_seq(),
)
