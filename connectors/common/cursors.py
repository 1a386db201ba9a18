"""Incremental cursors with a lookback window.

A cursor is text stored per (source, stream): usually an ISO-8601 UTC timestamp (or a Unix epoch, as
Stripe's ``created``). An extraction starts at ``cursor - lookback`` so that records created late or
updated just before the previous run are seen again; landing deduplicates them by content hash.

Records that change state after they are created (a Stripe balance transaction ``pending`` until its funds
are ``available``, a card authorisation until it clears) are re-visited: the cursor also keeps where the
oldest record still open starts (``<latest> revisit_from=<instant>``), and the next extraction starts at
the earlier of that and ``latest - lookback``, so every open record is listed again on every run until it
reaches its final state, however far the cursor moved. The open records of that run set the next window; once
none is open, the cursor is plain again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any


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


#: separates a cursor's latest value from the start of its re-visit window
REVISIT_MARK = " revisit_from="


def split_revisit(cursor: str | None) -> tuple[str | None, str | None]:
    """``(latest, revisit_from)`` of a cursor; ``revisit_from`` is ``None`` when nothing is open."""
    if not cursor:
        return None, None
    latest, mark, since = cursor.partition(REVISIT_MARK)
    return latest or None, (since or None) if mark else None


def revisit_start(cursor: str | None, lookback: timedelta) -> datetime | None:
    """Where the next extraction starts: the earlier of ``latest - lookback`` and the oldest open record,
    or ``None`` (from the beginning)."""
    latest, since = split_revisit(cursor)
    start = window_start(latest, lookback)
    open_from = parse_instant(since)
    return start if start is None or open_from is None else min(start, open_from)


def revisit_cursor(cursor: str | None, seen: Iterable[str | None], still_open: Iterable[str | None], *,
                   key: Callable[[str], Any] = parse_instant) -> str | None:
    """The cursor to save after an extraction that started at ``revisit_start(cursor, ...)``.

    Args:
        cursor: the cursor the extraction started from.
        seen: the cursor values of every record extracted.
        still_open: the cursor values of the extracted records not yet in their final state.
        key: orders cursor values (instants by default; ``int`` for a cursor of growing ids).
    """
    latest = advance(split_revisit(cursor)[0], seen, key=key)
    opened = [value for value in still_open if value is not None and value != ""]
    oldest = min(opened, key=key) if opened else None
    return latest if latest is None or oldest is None else f"{latest}{REVISIT_MARK}{oldest}"


def advance(cursor: str | None, seen: Iterable[str | None], *,
            key: Callable[[str], Any] = parse_instant) -> str | None:
    """The new cursor: the latest of the old one and every cursor value seen (never moves backwards);
    ``key`` orders the values (instants by default)."""
    best = cursor
    best_instant = None if cursor is None or cursor == "" else key(cursor)
    for value in seen:
        instant = None if value is None or value == "" else key(value)
        if instant is not None and (best_instant is None or instant > best_instant):
            best, best_instant = value, instant
    return best


def as_epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())
