"""Time-ordered ids for the rows a batch writes (transactions and entries), generated set-based in SQL.

Each id is a version-7 UUID in its text form (RFC 9562): the first 48 bits are the Unix time in
milliseconds, then 42 random bits drawn once per batch and kind, then a 32-bit counter: the row's ``line``,
which is unique within a batch (an entry's own line; a transaction's first line). Numbering by line rather
than by ``row_number() OVER ()`` spares a window that DuckDB runs on one thread over every column of the
batch (2.6 s of a million-transaction post). Why not one random (v4) UUID per row: random keys land all over a B-tree, so PostgreSQL's
primary-key index turns every insert of a large batch into a random page write; time-ordered keys append
at the right edge, and the ids sort in the order they were written. Uniqueness: within a batch by the
counter (``batch_post`` refuses lines that repeat or lie outside 0 .. 2**32 - 1), across
batches by the time and the 42 random bits.
"""

from __future__ import annotations

import re
import secrets
import time

#: the canonical text of a UUID (lowercase, as the store writes them; upper case is read too)
UUID_TEXT = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


_UUID_TEXT = re.compile(UUID_TEXT)


def uuid_or_null(text_sql: str) -> str:
    """SQL (both engines) for the UUID that the text ``text_sql`` spells in its canonical form, else NULL:
    a reference that may be an id or a name (an account's, a ledger's) is compared with an id column only
    when it is an id, since casting a name to a UUID is an error on both engines."""
    return f"CASE WHEN {text_sql} ~ '{UUID_TEXT}' THEN CAST({text_sql} AS UUID) END"


def is_uuid_text(value: object) -> bool:
    """Whether ``value`` is text in a UUID's canonical form (``uuid_or_null`` in Python)."""
    return isinstance(value, str) and _UUID_TEXT.match(value) is not None


def id_prefix(now_ms: int | None = None) -> str:
    """The first 24 hex digits of a batch's ids, formatted ``tttttttt-tttt-7rrr-vrrr-rrrr``; a row's id is
    this prefix followed by its counter as 8 hex digits (``StoreEngine.id_sql``)."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    rand_a = secrets.randbits(12)
    variant = 0b10 << 2 | secrets.randbits(2)  # RFC 9562 variant bits 10, then 2 random bits
    rand_b = secrets.randbits(28)
    digits = f"{millis & (2**48 - 1):012x}7{rand_a:03x}{variant:x}{rand_b:07x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:24]}"

