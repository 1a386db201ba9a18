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
_VACANT = object()  # in the idle queue: a connection was closed, and whoever takes this opens another


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
        has no asyncio connection. A kept connection found closed (a database restart ends them all) is
        replaced and the read run again, on the next one or a new one: a read changes nothing, so running
        it again is safe; a new connection that fails is the read's error."""
        while True:
            conn, fresh = await self._take()
            if conn is None:
                return await run_in_threadpool(threaded)
            try:
                async with conn.cursor() as cur:
                    await cur.execute(self.store.engine.convert(sql), params)
                    rows = await cur.fetchall()
            except Exception:
                if not self.store.engine.connection_lost(conn):
                    self._give_back(conn)  # the statement's own error: the connection serves the next read
                    raise
                await self._discard(conn)
                if fresh:
                    raise
                continue
            except BaseException:  # cancelled while its statement ran: the connection's state is unknown
                await self._discard(conn)
                raise
            self._give_back(conn)
            return rows

    async def _take(self) -> tuple[Any | None, bool]:
        """A connection and whether it was opened for this read."""
        if self._unsupported:
            return None, True
        if self._idle is None:
            self._idle = asyncio.Queue()
        while True:
            if self._idle.empty() and self._opened < self.size:
                return await self._open(), True
            conn = await self._idle.get()
            if conn is not _VACANT:
                return conn, False
            if self._opened < self.size:
                return await self._open(), True

    async def _open(self) -> Any | None:
        self._opened += 1
        try:
            conn = await self.store.engine.connect_async()
        except BaseException:
            self._opened -= 1
            self._give_back(_VACANT)  # a read waiting for a connection tries in turn (and fails alike if down)
            raise
        if conn is None:
            self._unsupported = True
        return conn

    async def _discard(self, conn: Any) -> None:
        self._opened -= 1
        self._give_back(_VACANT)
        try:
            await conn.close()
        except Exception:  # noqa: BLE001 - closing a connection that is already gone
            pass

    def _give_back(self, conn: Any) -> None:
        assert self._idle is not None
        self._idle.put_nowait(conn)

    async def close(self) -> None:
        while self._idle is not None and not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not _VACANT:
                self._opened -= 1
                await conn.close()
