"""Reads on the server's event loop: a few asyncio driver connections shared by the read routes.

A read that runs on a worker thread pays for the hand-off both ways and competes with the writers' threads
and the event loop for the interpreter lock, so under load its latency is set by whichever thread holds the
lock. Where the store's driver has an asyncio connection (PostgreSQL), a read route awaits its query on the
event loop instead; elsewhere (DuckDB) it reads on a worker thread's connection as before. Reads are
autocommit, on the same committed data either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from ledger_pipeline.ledger.store import Store

DEFAULT_READ_CONNECTIONS = 8


class AsyncReads:
    """Up to ``size`` asyncio connections, opened when first needed and closed by ``close``."""

    def __init__(self, store: Store, size: int = DEFAULT_READ_CONNECTIONS):
        self.store, self.size = store, size
        self._idle: asyncio.Queue | None = None
        self._opened = 0
        self._unsupported = False

    async def dicts(self, sql: str, params: Mapping[str, Any], threaded: Callable[[], list[dict[str, Any]]]
                    ) -> list[dict[str, Any]]:
        """The rows of ``sql`` as dicts; ``threaded`` runs the same read on a worker thread where the engine
        has no asyncio connection. A connection found closed (a database restart) is replaced and the read
        run once more: a read changes nothing, so running it again is safe."""
        for attempt in (1, 2):
            conn = await self._take()
            if conn is None:
                return await run_in_threadpool(threaded)
            try:
                async with conn.cursor() as cur:
                    await cur.execute(self.store.engine.convert(sql), params)
                    rows = await cur.fetchall()
            except BaseException:
                if not self.store.engine.connection_lost(conn):
                    self._give_back(conn)
                    raise
                self._opened -= 1
                await conn.close()
                if attempt == 2:
                    raise
                continue
            self._give_back(conn)
            return rows
        raise AssertionError("unreachable")

    async def _take(self) -> Any | None:
        if self._unsupported:
            return None
        if self._idle is None:
            self._idle = asyncio.Queue()
        if self._idle.empty() and self._opened < self.size:
            self._opened += 1
            try:
                conn = await self.store.engine.connect_async()
            except BaseException:
                self._opened -= 1
                raise
            if conn is None:
                self._unsupported = True
            return conn
        return await self._idle.get()

    def _give_back(self, conn: Any) -> None:
        assert self._idle is not None
        self._idle.put_nowait(conn)

    async def close(self) -> None:
        while self._idle is not None and not self._idle.empty():
            conn = self._idle.get_nowait()
            self._opened -= 1
            await conn.close()
