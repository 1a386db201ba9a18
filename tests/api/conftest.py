"""A real API server per test: ``ledger-pipeline serve`` in its own process on a free port of 127.0.0.1, over
a fresh store on each engine (``store_url``), with a write key and a read key; stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from ledger_pipeline.api.keys import create_key
from ledger_pipeline.ledger.store import Store

START_TIMEOUT_S = 60


@dataclass
class Server:
    base_url: str
    store_url: str
    write_token: str
    read_token: str
    process: subprocess.Popen

    def client(self, token: str | None = "write", **kwargs) -> httpx.Client:
        """A client authenticated with the write key (``"write"``), the read key (``"read"``), a literal
        token, or none (``None``)."""
        token = {"write": self.write_token, "read": self.read_token}.get(token, token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    @property
    def is_postgres(self) -> bool:
        return self.store_url.startswith("postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_args() -> list[str]:
    """More ``serve`` options (a test parametrizes ``server_args`` to set them)."""
    return []


@pytest.fixture
def server(store: Store, store_url, tmp_path, server_args) -> Iterator[Server]:
    with store.transaction() as conn:
        _, write_token = create_key(conn, "tests-write", ["write"])
        _, read_token = create_key(conn, "tests-read", ["read"])
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed after the process stops
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger_pipeline.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--store", store_url, "--max-body-bytes", "65536", *server_args],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "LEDGER_STORE_URL": ""},
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base_url}/api/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        yield Server(base_url, store_url, write_token, read_token, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
