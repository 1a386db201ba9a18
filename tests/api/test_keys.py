"""``ledger-pipeline api-keys create|list|revoke``, and a revoked key refused by a running server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from ledger_pipeline.api.keys import hash_token, revoke_key
from ledger_pipeline.cli import app
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store

runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_api_keys_commands_store_only_the_hash(duckdb_url):
    initialize_store(Store(duckdb_url))
    created = json.loads(_cli("api-keys", "create", "--name", "checkout", "--scope", "write", "--store", duckdb_url,
                              "--json"))["data"]
    assert created["scopes"] == ["read", "write"] and created["token"].startswith("lp_")
    with Store(duckdb_url).connect() as conn:
        assert conn.all("SELECT name, token_hash FROM api_keys") == [("checkout", hash_token(created["token"]))]
    listed = json.loads(_cli("api-keys", "list", "--store", duckdb_url, "--json"))["data"]
    assert [(k["id"], k["scopes"]) for k in listed] == [(created["id"], "read write")]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    _cli("api-keys", "revoke", created["id"], "--store", duckdb_url)
    assert json.loads(_cli("api-keys", "list", "--store", duckdb_url, "--json"))["data"] == []
    assert len(json.loads(_cli("api-keys", "list", "--all", "--store", duckdb_url, "--json"))["data"]) == 1
    again = runner.invoke(app, ["api-keys", "revoke", created["id"], "--store", duckdb_url])
    assert again.exit_code == 2
    bad = runner.invoke(app, ["api-keys", "create", "--name", "x", "--scope", "admin", "--store", duckdb_url])
    assert bad.exit_code == 2


# the revocation tests revoke the key beside the server: a DuckDB file is held by the server's process
on_postgresql = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


@contextlib.contextmanager
def _revoked_reader(server) -> Iterator:
    """A client of the server with the read key, accepted once, whose key is then revoked beside the server."""
    with server.client("read") as reader:
        assert reader.get("/api/ledgers").status_code == 200
        with Store(server.store_url).transaction() as conn:
            revoke_key(conn, conn.scalar("SELECT id FROM api_keys WHERE name = 'tests-read'"))
        yield reader


@on_postgresql
@pytest.mark.parametrize("server_args", [["--key-cache-s", "0"]])
def test_a_revoked_key_is_refused_at_once_without_the_key_cache(server):
    with _revoked_reader(server) as reader:
        assert reader.get("/api/ledgers").status_code == 401


@on_postgresql
@pytest.mark.parametrize("server_args", [["--key-cache-s", "2"]])
def test_a_revoked_key_is_refused_once_the_key_cache_expires(server):
    with _revoked_reader(server) as reader:
        revoked_at = time.monotonic()
        assert reader.get("/api/ledgers").status_code == 200  # verified just now: still trusted
        while reader.get("/api/ledgers").status_code == 200:
            assert time.monotonic() - revoked_at < 3.5, "the revoked key outlived the key cache"
            time.sleep(0.05)
        assert reader.get("/api/ledgers").status_code == 401


def test_a_closed_connection_is_replaced(pg_schema_url):
    from ledger_pipeline.api.app import create_app

    initialize_store(Store(pg_schema_url))
    writers = create_app(pg_schema_url).state.writers
    try:
        first = writers.get()
        assert writers.get() is first
        first.conn.raw.close()  # as when the server ends the session
        second = writers.get()
        assert second is not first and second.conn.scalar("SELECT 1") == 1
    finally:
        writers.close()


def test_a_writer_outlives_its_thread_and_serves_the_next_one(store):
    """AnyIO ends a worker thread idle for 10 s and starts another when requests need one: the new thread
    takes the writer (and connection) an ended thread held instead of opening another, and threads that run
    at once hold writers of their own."""
    from ledger_pipeline.api.app import create_app

    writers = create_app(store.url).state.writers

    def lent_at_once(count: int) -> list:
        together = threading.Barrier(count)
        lent: list = []

        def serve() -> None:
            lent.append(writers.get())
            together.wait(timeout=30)  # every thread holds its writer at the same time

        threads = [threading.Thread(target=serve) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return lent

    try:
        one_after_another = [lent_at_once(1)[0] for _ in range(3)]
        assert one_after_another[0] is one_after_another[1] is one_after_another[2]
        first_pair = lent_at_once(2)
        assert first_pair[0] is not first_pair[1] and one_after_another[0] in first_pair
        second_pair = lent_at_once(2)
        assert {id(w) for w in second_pair} == {id(w) for w in first_pair}  # no third connection
        assert second_pair[0].conn.scalar("SELECT 1") == 1
    finally:
        writers.close()


def test_a_server_process_freezes_its_startup_objects_out_of_the_collector():
    """Full garbage collections under load walk only what requests left, not the imports' objects."""
    import subprocess
    import sys

    code = ("import gc; from ledger_pipeline.api.app import create_app, freeze_startup_objects; "
            "create_app('duckdb:///:memory:'); before = gc.get_freeze_count(); freeze_startup_objects(); "
            "print(before, gc.get_freeze_count(), len(gc.get_objects()))")
    before, frozen, tracked = map(int, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                     text=True).stdout.split())
    assert before == 0 and frozen > 10 * max(tracked, 1000)


def test_requests_that_find_no_cached_key_share_one_lookup(store, monkeypatch):
    """Requests that arrive while their key is being looked up (its cached verification expired) wait for
    that lookup rather than each sending its own; the next request after it looks the key up again."""
    import asyncio

    import httpx

    from ledger_pipeline.api import keys as api_keys
    from ledger_pipeline.api.app import create_app

    with store.transaction() as conn:
        _, token = api_keys.create_key(conn, "reader", ["read"])
    lookups: list[str] = []
    real = api_keys.lookup_query
    monkeypatch.setattr(api_keys, "lookup_query", lambda token_hash: lookups.append(token_hash) or real(token_hash))
    app = create_app(store.url, key_cache_s=0)  # nothing kept: every request needs its key looked up

    async def requests() -> list[list[httpx.Response]]:
        rounds = []
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                         headers={"Authorization": f"Bearer {token}"}) as client:
                for _ in range(2):
                    rounds.append(await asyncio.gather(*(client.get("/api/ledgers") for _ in range(50))))
                wrong = await client.get("/api/ledgers", headers={"Authorization": "Bearer lp_wrong"})
                assert wrong.status_code == 401
        finally:
            await app.state.reads.close()
            app.state.writers.close()
        return rounds

    rounds = asyncio.run(requests())
    assert [{r.status_code for r in responses} for responses in rounds] == [{200}, {200}]
    assert lookups == [hash_token(token)] * 2 + [hash_token("lp_wrong")]
