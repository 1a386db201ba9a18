"""The API's table: API keys, stored as the sha256 hash of a random token (the token itself is shown once,
when the key is created). Part of the store's one metadata (``ledger_pipeline.ledger.schema.METADATA``);
revision ``0006`` creates it in an existing store."""

from __future__ import annotations

from sqlalchemy import Column, Table

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
