"""Incremental cursors with a lookback window.

A cursor is text stored per (source, stream): usually an ISO-8601 UTC timestamp (or a Unix epoch, as
Stripe's ``created``). An extraction starts at ``cursor - lookback`` so that records created late or
updated just before the previous run are seen again; landing deduplicates them by content hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta


def parse_instant(value: str | int | float | datetime | None) -> datetime | None:
    """Read a cursor value (ISO-8601 text, Unix seconds as int/text, or a datetime) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        return datetime.fromtimestamp(int(value), tz=UTC)
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_instant(value: datetime) -> str:
    """ISO-8601 UTC text, seconds precision unless the value has microseconds."""
    return value.astimezone(UTC).isoformat()


def epoch_to_iso(seconds: int | str | None) -> str | None:
    """Unix seconds to ISO-8601 UTC text (``None`` stays ``None``)."""
    if seconds is None or seconds == "":
        return None
    return format_instant(datetime.fromtimestamp(int(seconds), tz=UTC))


def window_start(cursor: str | None, lookback: timedelta) -> datetime | None:
    """Where the next extraction starts: the cursor minus the lookback, or ``None`` (from the beginning)."""
    instant = parse_instant(cursor)
    return None if instant is None else instant - lookback


def advance(cursor: str | None, seen: Iterable[str | None]) -> str | None:
    """The new cursor: the latest of the old one and every cursor value seen (never moves backwards)."""
    best = cursor
    best_instant = parse_instant(cursor)
    for value in seen:
        instant = parse_instant(value)
        if instant is not None and (best_instant is None or instant > best_instant):
            best, best_instant = value, instant
    return best


def as_epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())
