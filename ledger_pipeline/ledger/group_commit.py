"""Group commit: concurrent single-transaction writes of one process, run together in one database
transaction.

A write through the staged pipeline costs about the same whether it carries one transaction or eight (about
15 statements either way: 3.0-3.3 ms of client and server CPU for one, 0.5-0.6 ms per transaction for eight,
measured on PostgreSQL). So when several threads post at once, the first to arrive becomes the *leader*: it
takes the waiting requests (up to ``max_group``, at most one per key), runs them as one group, hands each
its own outcome, and repeats until its own request is done; then it passes the lead to the oldest waiting
request's thread. The others (*followers*) just wait. Before taking a group the leader yields the
interpreter lock, so that the threads the last group answered can queue their next writes; only when that
last group had several writes (writers are concurrent) does it wait ``GATHER_S`` (0.2 ms) for them. A lone
writer is never held back.

This module is only the combining; what "running a group" means is the caller's ``run_group`` (see
``writer.LedgerWriter``), which must finish every request it is given. A thread that holds a lock the
leader needs (``Store.write_lock``) must not submit, or it would wait for a leader that waits for it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: how long a leader waits for company when the previous group had several writes (PostgreSQL's
#: ``commit_delay`` idea): 8 writers x 500 posts took 3.75-3.94 s without it, 3.00-3.06 s with a bare yield
#: of the interpreter lock, 2.43-2.58 s with a 0.2 ms wait
GATHER_S = 0.0002


@dataclass(eq=False)
class Request:
    """One caller's item and, once finished, its result or error."""

    item: Any
    key: Hashable | None  # requests with the same key never share a group; None: always alone
    result: Any = None
    error: BaseException | None = None
    finished: bool = False
    _wake: threading.Event = field(default_factory=threading.Event, repr=False)

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True
        self._wake.set()


class GroupCommit:
    """Combines concurrent ``submit`` calls into groups that one thread at a time runs (see module doc)."""

    def __init__(self, max_group: int = 64, gather_s: float = GATHER_S):
        self.max_group = max_group
        self.gather_s = gather_s
        self._last_group = 0  # size of the group run last: more than one means writers are concurrent
        self._lock = threading.Lock()
        self._queue: deque[Request] = deque()
        self._leading = False
        self.groups_run = 0  # statistics, for tests and benchmarks
        self.requests_run = 0

    def submit(self, item: Any, key: Hashable | None, run_group: Callable[[list[Request]], None]) -> Any:
        """Run ``item`` (alone or in a group, by ``run_group`` on whichever thread leads) and return its
        result, or raise its error."""
        request = Request(item, key)
        with self._lock:
            self._queue.append(request)
            lead = not self._leading
            self._leading = True
        if not lead:
            request._wake.wait()  # finished by a leader, or handed the lead
        if not request.finished:
            self._lead(request, run_group)
        if request.error is not None:
            raise request.error
        return request.result

    def _lead(self, own: Request, run_group: Callable[[list[Request]], None]) -> None:
        try:
            while not own.finished:
                # Let the writers that the last group just answered submit their next writes first: a bare
                # yield of the interpreter lock when writes come alone, a short wait when they come together.
                time.sleep(self.gather_s if self._last_group > 1 else 0)
                group = self._take()
                self._last_group = len(group)
                try:
                    run_group(group)
                except BaseException as exc:
                    for request in group:
                        if not request.finished:
                            request.finish(error=exc)
                    raise
                self.groups_run += 1
                self.requests_run += len(group)
                for request in group:
                    if not request.finished:  # a run_group that forgot one: never leave a caller waiting
                        request.finish(error=RuntimeError("group commit: request left without an outcome"))
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0]._wake.set()  # its thread wakes unfinished and leads
                else:
                    self._leading = False

    def _take(self) -> list[Request]:
        """The oldest waiting requests, up to ``max_group`` with distinct keys (a keyless one alone); the
        rest stay queued in order."""
        with self._lock:
            group: list[Request] = []
            keys: set[Hashable] = set()
            left: deque[Request] = deque()
            while self._queue:
                request = self._queue.popleft()
                if len(group) >= self.max_group:
                    left.append(request)
                elif request.key is None:
                    if group:
                        left.append(request)
                    else:
                        group.append(request)
                        left.extend(self._queue)
                        self._queue.clear()
                elif request.key in keys:
                    left.append(request)
                else:
                    keys.add(request.key)
                    group.append(request)
            self._queue = left
            return group
