"""Running a write again when it only lost a race to another writer."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MAX_WRITE_ATTEMPTS = 50  # a single write retried after losing a race (see writer.LedgerWriter.post)
MAX_BATCH_ATTEMPTS = 3  # a batch retried after losing a race on an external_id (see batch_post.post)


def with_retries(attempt_once: Callable[[], T], attempts: int, pause_s: float,
                 retryable: Callable[[BaseException], bool]) -> T:
    """Run ``attempt_once`` until it succeeds, retrying up to ``attempts`` times in all when it only lost a
    race (``retryable``: the store engine's ``is_retryable``), after a random pause growing by ``pause_s``
    per attempt."""
    for attempt in range(attempts):
        try:
            return attempt_once()
        except Exception as exc:
            if attempt + 1 < attempts and retryable(exc):
                time.sleep(random.uniform(0, pause_s * (attempt + 1)))
                continue
            raise
    raise AssertionError("unreachable")
