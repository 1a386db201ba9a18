"""The HTTP API under load: card authorisations, transaction creates and balance reads on PostgreSQL.

One run, on a fresh PostgreSQL database with ``--cards`` card accounts (credit-normal, ``min_available_balance
= 0``, linked to their card tokens, funded), against a real ``ledger-pipeline serve`` process on 127.0.0.1:

* card authorisations (Lithic ASA requests, signed) at ``--auth-rate`` requests/s spread over the cards,
  for ``--seconds``: open loop (each request is sent at its scheduled time, and its latency counts from
  then, so a slow server cannot hide its queue); every answer must be 200 APPROVED;
* ledger transaction creates (``POST /api/ledger_transactions``) by ``--clients`` concurrent clients, each
  sending its next request when the previous one returns, for ``--create-seconds``;
* balance reads (``GET /api/ledger_accounts/{id}``) at ``--read-rate`` requests/s, open loop;
* side by side, the same operations in process: ``--clients`` threads each with a ``LedgerWriter`` posting
  holds and transactions (recording their events, as the server's writers do), and reading balances with the
  API's query, so the API's cost is a ratio; and the holds again at ``--auth-rate`` for ``--create-seconds``,
  open loop like the API's phase (the threads take each hold at its scheduled time), so that the write
  path's own latency at that rate stands beside the API's;
* and the latency floor: the same generator at the authorisation and read rates against a fixed answer
  served by uvicorn (``bench.asgi_floor``), what the generator, uvicorn and the machine add to any request.

The server runs with ``--no-access-log``: a log line per request is a deployment's choice, not the API's cost.

The load generator is asyncio with a minimal HTTP/1.1 keep-alive client (``_Http``), in this process; it
shares the machine's cores with the server (``--workers N``: N server processes).
Printed: medians and p99 of latency, throughput, errors, the load average before and after each phase, the
CPU time per request of the server, of the generator and of the PostgreSQL backends serving the benchmark's
database (each phase's own, the warm-up excluded; and how many backends there are at the phase's end: the
server's connections and the webhook worker's), and of the in-process threads and their backends: what
each operation costs the machine, which a loaded machine skews far less than rates; and the share of the
machine's CPU time the host stole (a virtual machine's cores are shared; ``steal_pct``). Usage: ``python -m bench.api [--quick]``
(``BENCH_QUICK=1`` too: 5-second phases over 100 cards).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import json
import os
import queue
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PG_ADMIN_URL = os.environ.get("LEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "ledger_bench_api"
SECRET = "whsec_" + base64.b64encode(b"bench-api-secret").decode()

TARGET_AUTH_P99_MS = 20.0
TARGET_CREATES_PER_S = 1_000.0
TARGET_READ_P99_MS = 10.0
FUNDED = 10**12  # minor units per card: never the limit in the benchmark


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def _cpu_ticks() -> tuple[int, int]:
    """The machine's stolen and total CPU ticks (``/proc/stat``): on a virtual machine, the share of time
    the host ran something else while this machine wanted its cores, which no load average shows."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def _steal_pct(before: tuple[int, int]) -> float:
    steal, total = _cpu_ticks()
    return round(100 * (steal - before[0]) / max(total - before[1], 1), 1)


def _cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live descendants (``serve --workers N`` runs N server processes)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, total = {pid}, 0
    for _ in range(3):  # the server, uvicorn's worker processes (and their multiprocessing helpers)
        tree |= {child for child, (parent, _) in stats.items() if parent in tree}
    for member in tree:
        total += stats.get(member, (0, 0))[1]
    return total / os.sysconf("SC_CLK_TCK")


def _database_cpu() -> float:
    """CPU time of the PostgreSQL backends serving the benchmark's database (on this machine), so each phase
    can say what the database spent per request beside the server and the generator."""
    return _database_backends()[0]


def _database_backends() -> tuple[float, int]:
    """CPU time of the PostgreSQL backends serving the benchmark's database, and how many there are."""
    total, count = 0, 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f" {PG_BENCH_DB} ".encode() not in (entry / "cmdline").read_bytes():
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            total += int(fields[11]) + int(fields[12])
            count += 1
    return total / os.sysconf("SC_CLK_TCK"), count


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh_pg_url() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def _setup(url: str, cards: int) -> tuple[str, list[str], str, str]:
    """The store with ``cards`` funded card accounts; returns an API key and the account ids, the funding
    account and the revenue account (for transaction creates)."""
    from ledger_pipeline.api.keys import create_key
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    store = Store(url)
    initialize_store(store)
    with store.transaction() as conn:
        _, token = create_key(conn, "bench", ["read", "write"])
        funding = ensure_account(conn, "main", AccountSpec("funding", "debit", "USD"))
        revenue = ensure_account(conn, "main", AccountSpec("revenue", "credit", "USD"))
        ids = [ensure_account(conn, "main", AccountSpec(
            f"lithic:financial_account:fa-{i}:USD", "credit", "USD", min_available_balance=0,
            ledgerable_type="card", ledgerable_id=f"card-{i}")) for i in range(cards)]
    with open_writer(store, group_commit=False) as writer:
        writer.post(TransactionInput(
            entries=[EntryInput(funding, "debit", FUNDED * cards)]
            + [EntryInput(account, "credit", FUNDED) for account in ids], external_id="bench-funding"))
    return token, ids, funding, revenue


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, log: Path, workers: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger_pipeline.cli", "serve", "--port", str(port), "--store", url, "--no-access-log",
         "--workers", str(workers)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "LITHIC_WEBHOOK_SECRET": SECRET, "LEDGER_STORE_URL": ""})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/ping", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def _signed(body: bytes) -> dict[str, str]:
    message_id, timestamp = uuid.uuid4().hex, str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body,
                                          hashlib.sha256).digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}",
            "content-type": "application/json"}


def _asa(card: int, amount: int = 1) -> bytes:
    return json.dumps({"token": str(uuid.uuid4()), "status": "AUTHORIZATION", "amount": amount,
                       "amounts": {"hold": {"amount": amount, "currency": "USD"}},
                       "card": {"token": f"card-{card}"}, "merchant": {"descriptor": "BENCH"}}).encode()


def _summary(latencies: list[float], errors: int, seconds: float) -> dict:
    ordered = sorted(latencies)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 2) if ordered else float("nan")

    return {"requests": len(latencies) + errors, "errors": errors, "per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None, "p90_ms": at(0.90),
            "p99_ms": at(0.99)}


@contextlib.contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """The generator's own garbage collection off while it measures: a full collection of the generator
    held every request scheduled meanwhile (48-85 ms pauses in a 30-s read phase, each seen as hundreds of
    slow answers, since an open loop counts latency from the scheduled time). A phase's garbage is
    collected after it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def _open_loop(send, rate: float, seconds: float) -> dict:
    """``send()`` at ``rate`` per second for ``seconds``; latency from each request's scheduled time. Only
    the requests in flight are kept (a phase's tens of thousands of finished tasks are not)."""
    latencies: list[float] = []
    errors = 0
    in_flight: set[asyncio.Task] = set()

    async def one(scheduled: float) -> None:
        nonlocal errors
        errors += not await _timed(send, scheduled, latencies)

    start = time.perf_counter()
    with _no_collector_pauses():
        for i in range(int(rate * seconds)):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        while in_flight:
            await asyncio.gather(*in_flight)
    return _summary(latencies, errors, time.perf_counter() - start)


async def _timed(send, began: float, latencies: list[float]) -> bool:
    """One request: its latency from ``began`` is recorded when it succeeds; False when it failed (a transport
    error is an error of the run, counted)."""
    try:
        ok = await send()
    except Exception:  # noqa: BLE001
        ok = False
    if ok:
        latencies.append(time.perf_counter() - began)
    return bool(ok)


async def _closed_loop(send, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            errors += not await _timed(send, time.perf_counter(), latencies)

    start = time.perf_counter()
    with _no_collector_pauses():
        await asyncio.gather(*(client() for _ in range(clients)))
    return _summary(latencies, errors, time.perf_counter() - start)


class _Http:
    """A minimal HTTP/1.1 keep-alive client for the load generator: ``connections`` open sockets, each
    carrying one request at a time. httpx spent 4-8 ms of CPU per request here, more than the server, so
    on two shared cores the generator, not the API, set the rate; this one spends a small fraction of that
    (``generator_cpu_ms_per_request`` in the output)."""

    def __init__(self, base: str, token: str, connections: int):
        host_port = base.removeprefix("http://")
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.auth = f"Authorization: Bearer {token}\r\nHost: {host_port}\r\n".encode()
        self.size = connections
        self.idle: asyncio.Queue = asyncio.Queue()
        self.opened = 0

    async def _connection(self):
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                return await asyncio.open_connection(self.host, self.port)
            except BaseException:  # refused (a server process still starting): the slot is free again
                self.opened -= 1
                raise
        return await self.idle.get()

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        reader, writer = await self._connection()
        try:
            extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
            writer.write(f"{method} {path} HTTP/1.1\r\n".encode() + self.auth + extra.encode()
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            async with asyncio.timeout(30):  # a request that never returns is an error of the run, not a hang
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                payload = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            self.opened -= 1
            raise
        self.idle.put_nowait((reader, writer))
        return status, payload

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def _api_phases(base: str, token: str, ids: list[str], funding: str, revenue: str, args,
                      server_pid: int) -> dict:
    results: dict[str, dict] = {}
    client = _Http(base, token, args.connections)
    json_type = {"Content-Type": "application/json"}
    create_body = json.dumps({"ledger_entries": [
        {"ledger_account_id": funding, "direction": "debit", "amount": 1},
        {"ledger_account_id": revenue, "direction": "credit", "amount": 1}]}).encode()

    async def authorise() -> bool:
        body = _asa(random.randrange(len(ids)))
        status, payload = await client.request("POST", "/api/cards/lithic/asa", body, _signed(body))
        return status == 200 and json.loads(payload)["result"] == "APPROVED"

    async def create() -> bool:
        status, _ = await client.request("POST", "/api/ledger_transactions", create_body, json_type)
        return status == 201

    async def read() -> bool:
        status, _ = await client.request("GET", f"/api/ledger_accounts/{random.choice(ids)}")
        return status == 200

    try:
        # warm-up, not measured: every server thread opens its writer connection (and its staging tables)
        # on its first request
        for send in (authorise, create, read):
            await _closed_loop(send, args.connections, args.warmup_seconds)
        for name, run in (("auth", lambda: _open_loop(authorise, args.auth_rate, args.seconds)),
                          ("create", lambda: _closed_loop(create, args.clients, args.create_seconds)),
                          ("read", lambda: _open_loop(read, args.read_rate, args.read_seconds))):
            load_before, cpu_before, own_before = _loadavg(), _cpu_seconds(server_pid), _own_cpu()
            database_before, ticks_before = _database_cpu(), _cpu_ticks()
            summary = await run()
            served = max(summary["requests"], 1)
            cpu_ms = 1000 * (_cpu_seconds(server_pid) - cpu_before) / served
            generator_ms = 1000 * (_own_cpu() - own_before) / served
            database_after, connections = _database_backends()
            database_ms = 1000 * (database_after - database_before) / served
            results[name] = {**summary, "server_cpu_ms_per_request": round(cpu_ms, 2),
                             "generator_cpu_ms_per_request": round(generator_ms, 2),
                             "database_cpu_ms_per_request": round(database_ms, 2),
                             "database_connections": connections,
                             "load": f"{load_before}-{_loadavg()}", "steal_pct": _steal_pct(ticks_before)}
            print(f"api {name}: {json.dumps(results[name])}", flush=True)
    finally:
        await client.close()
    return results


def _floor(args) -> dict:
    """The same generator against ``bench.asgi_floor`` under uvicorn at the authorisation and the read rates
    (open loop, ``args.floor_seconds`` each): the latency no application on uvicorn can go below here."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.asgi_floor:app", "--port", str(port),
                                "--no-access-log", "--log-level", "warning"],
                               cwd=Path(__file__).resolve().parent.parent)
    results: dict[str, dict] = {}

    async def phases() -> None:
        client = _Http(f"http://127.0.0.1:{port}", "floor", args.connections)
        body = _asa(0)

        async def authorise() -> bool:
            status, _ = await client.request("POST", "/api/cards/lithic/asa", body, _signed(body))
            return status == 200

        async def read() -> bool:
            status, _ = await client.request("GET", "/api/ledger_accounts/floor")
            return status == 200

        for _ in range(100):  # until uvicorn listens
            try:
                await client.request("GET", "/")
                break
            except OSError:
                await asyncio.sleep(0.1)
        try:
            await _closed_loop(read, args.connections, args.warmup_seconds)
            for name, send, rate in (("auth", authorise, args.auth_rate), ("read", read, args.read_rate)):
                load_before, cpu_before, own_before = _loadavg(), _cpu_seconds(process.pid), _own_cpu()
                ticks_before = _cpu_ticks()
                summary = await _open_loop(send, rate, args.floor_seconds)
                served = max(summary["requests"], 1)
                results[name] = {**summary,
                                 "server_cpu_ms_per_request": round(1000 * (_cpu_seconds(process.pid) - cpu_before)
                                                                    / served, 3),
                                 "generator_cpu_ms_per_request": round(1000 * (_own_cpu() - own_before) / served, 3),
                                 "load": f"{load_before}-{_loadavg()}", "steal_pct": _steal_pct(ticks_before)}
                print(f"floor {name} (uvicorn, fixed answer): {json.dumps(results[name])}", flush=True)
        finally:
            await client.close()

    try:
        asyncio.run(phases())
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def _in_process(url: str, ids: list[str], funding: str, revenue: str, args) -> dict:
    """The same operations through ``LedgerWriter`` (holds and creates) and the API's balance query, by
    ``args.clients`` threads, each for ``args.create_seconds``."""
    from ledger_pipeline.api import queries
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer
    from ledger_pipeline.ledger.store import Store

    store = Store(url)
    network_id = None
    with store.connect() as conn:
        network_id = conn.scalar("SELECT id FROM ledger_accounts WHERE name = 'lithic:card_network_settlement:USD'")

    def operation(kind: str, writer) -> None:
        if kind == "auth":
            token, card = str(uuid.uuid4()), random.randrange(len(ids))
            # the hold the API writes for an ASA request (routes_cards.lithic_hold): same fields, same metadata
            writer.post(TransactionInput(entries=[EntryInput(ids[card], "debit", 1),
                                                  EntryInput(network_id, "credit", 1)],
                                         external_id=f"lithic:{token}:hold:{token}", status="pending",
                                         description=f"Lithic card authorization {token} (BENCH)", source="lithic",
                                         metadata={"transaction_token": token, "card_token": f"card-{card}",
                                                   "hold_id": token, "version_id": token}))
        elif kind == "create":
            writer.post(TransactionInput(entries=[EntryInput(funding, "debit", 1), EntryInput(revenue, "credit", 1)]))
        else:
            queries.get_account(writer.conn, random.choice(ids))

    def outcome(latencies: list[float], seconds: float, cpu_before: float, database_spent: float,
                load_before: str, ticks_before: tuple[int, int]) -> dict:
        """A phase's latencies and throughput, with this process's and the database's CPU per operation."""
        done = max(len(latencies), 1)
        return {**_summary(latencies, 0, seconds), "cpu_ms_per_op": round(1000 * (_own_cpu() - cpu_before) / done, 2),
                "database_cpu_ms_per_op": round(1000 * database_spent / done, 2),
                "load": f"{load_before}-{_loadavg()}", "steal_pct": _steal_pct(ticks_before)}

    def run(kind: str) -> dict:
        latencies: list[float] = []
        guard = threading.Lock()
        stop = time.perf_counter() + args.create_seconds

        # the database's CPU is read while every thread's connection is open: after they all opened (the
        # first barrier) and before any closes (the second)
        opened, finished = threading.Barrier(args.clients + 1), threading.Barrier(args.clients + 1)

        def worker() -> None:
            mine = []
            with open_writer(store, record_events=True) as writer:  # as the server's writers do
                opened.wait()
                while time.perf_counter() < stop:
                    began = time.perf_counter()
                    operation(kind, writer)
                    mine.append(time.perf_counter() - began)
                with guard:
                    latencies.extend(mine)
                finished.wait()

        load_before, cpu_before, ticks_before = _loadavg(), _own_cpu(), _cpu_ticks()
        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        opened.wait()
        database_before = _database_cpu()
        finished.wait()
        database_spent = _database_cpu() - database_before
        for thread in threads:
            thread.join()
        return outcome(latencies, time.perf_counter() - start, cpu_before, database_spent, load_before, ticks_before)

    def run_at_rate(kind: str, rate: float) -> dict:
        """``kind`` at ``rate`` per second, open loop as the API phases are: ``args.clients`` threads take
        each operation at its scheduled time from a queue; latency counts from that time."""
        schedule: queue.SimpleQueue = queue.SimpleQueue()
        latencies: list[float] = []
        guard = threading.Lock()
        # the database's CPU is read while every thread's connection is open, as in ``run``
        opened, finished = threading.Barrier(args.clients + 1), threading.Barrier(args.clients + 1)

        def worker() -> None:
            mine = []
            with open_writer(store, record_events=True) as writer:
                opened.wait()
                while (scheduled := schedule.get()) is not None:
                    operation(kind, writer)
                    mine.append(time.perf_counter() - scheduled)
                with guard:
                    latencies.extend(mine)
                finished.wait()

        threads = [threading.Thread(target=worker) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        opened.wait()
        load_before, cpu_before, ticks_before = _loadavg(), _own_cpu(), _cpu_ticks()
        database_before = _database_cpu()
        start = time.perf_counter()
        with _no_collector_pauses():
            for i in range(int(rate * args.create_seconds)):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                schedule.put(scheduled)
            for _ in threads:
                schedule.put(None)
            finished.wait()
        seconds = time.perf_counter() - start
        database_spent = _database_cpu() - database_before
        for thread in threads:
            thread.join()
        return outcome(latencies, seconds, cpu_before, database_spent, load_before, ticks_before)

    results = {}
    for kind in ("auth", "create", "read"):
        results[kind] = run(kind)
        print(f"in-process {kind} ({args.clients} threads): {json.dumps(results[kind])}", flush=True)
    results["auth_at_rate"] = run_at_rate("auth", args.auth_rate)
    print(f"in-process auth at {args.auth_rate:.0f}/s (open loop, {args.clients} threads): "
          f"{json.dumps(results['auth_at_rate'])}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    quick_env = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(prog="bench.api")
    parser.add_argument("--quick", action="store_true", default=quick_env, help="5-second phases, 100 cards")
    parser.add_argument("--cards", type=int)
    parser.add_argument("--auth-rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, help="card authorisation phase (default 60)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--connections", type=int, default=64, help="the generator's connection pool")
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="per operation, before measuring")
    parser.add_argument("--create-seconds", type=float, help="create phase and each in-process phase (20)")
    parser.add_argument("--read-rate", type=float, default=1_000.0)
    parser.add_argument("--read-seconds", type=float, help="balance read phase (30)")
    parser.add_argument("--floor-seconds", type=float, help="each phase against the fixed answer (15)")
    args = parser.parse_args(argv)
    args.cards = args.cards or (100 if args.quick else 1_000)
    args.seconds = args.seconds or (5.0 if args.quick else 60.0)
    args.create_seconds = args.create_seconds or (5.0 if args.quick else 20.0)
    args.read_seconds = args.read_seconds or (5.0 if args.quick else 30.0)
    args.floor_seconds = args.floor_seconds or (5.0 if args.quick else 15.0)

    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    url = _fresh_pg_url()
    token, ids, funding, revenue = _setup(url, args.cards)
    process, base = _start_server(url, out / "api_server.log", args.workers)
    try:
        api = asyncio.run(_api_phases(base, token, ids, funding, revenue, args, process.pid))
    finally:
        process.terminate()
        process.wait(timeout=30)
    served = sum(phase["requests"] for phase in api.values())
    server_cpu = sum(phase["server_cpu_ms_per_request"] * phase["requests"] for phase in api.values()) / 1000
    client_cpu = sum(phase["generator_cpu_ms_per_request"] * phase["requests"] for phase in api.values()) / 1000
    print(f"CPU seconds over the measured API phases (warm-up excluded): server {server_cpu:.1f} "
          f"({1000 * server_cpu / max(served, 1):.2f} ms per request, {served} requests), load generator "
          f"{client_cpu:.1f} ({1000 * client_cpu / max(served, 1):.2f} ms per request)")
    local = _in_process(url, ids, funding, revenue, args)
    floor = _floor(args)
    at_rate = local["auth_at_rate"]
    print(f"auth at {args.auth_rate:.0f}/s: API p50 {api['auth']['p50_ms']} ms / p99 {api['auth']['p99_ms']} ms; "
          f"in process (the same holds through LedgerWriter, no HTTP) p50 {at_rate['p50_ms']} ms / p99 "
          f"{at_rate['p99_ms']} ms")
    for kind in ("auth", "read"):
        print(f"{kind}: API p99 {api[kind]['p99_ms']} ms; the fixed answer's p99 {floor[kind]['p99_ms']} ms at the "
              f"same rate (API server CPU per request {api[kind]['server_cpu_ms_per_request']} ms, the fixed "
              f"answer's {floor[kind]['server_cpu_ms_per_request']} ms)")
    for kind in ("auth", "create", "read"):
        ratio = local[kind]["per_s"] / api[kind]["per_s"] if api[kind]["per_s"] else float("inf")
        print(f"{kind}: API p50 {api[kind]['p50_ms']} ms / p99 {api[kind]['p99_ms']} ms at {api[kind]['per_s']}/s; "
              f"in process p50 {local[kind]['p50_ms']} ms at {local[kind]['per_s']}/s "
              f"(in-process / API throughput {ratio:.2f}x); CPU per operation: API server "
              f"{api[kind]['server_cpu_ms_per_request']} ms + database {api[kind]['database_cpu_ms_per_request']} ms "
              f"+ generator {api[kind]['generator_cpu_ms_per_request']} ms; in process "
              f"{local[kind]['cpu_ms_per_op']} ms + database {local[kind]['database_cpu_ms_per_op']} ms")
    met = {
        f"auth p99 <= {TARGET_AUTH_P99_MS} ms, no error": api["auth"]["p99_ms"] <= TARGET_AUTH_P99_MS
        and api["auth"]["errors"] == 0,
        f"creates >= {TARGET_CREATES_PER_S:.0f}/s": api["create"]["per_s"] >= TARGET_CREATES_PER_S,
        f"read p99 <= {TARGET_READ_P99_MS} ms": api["read"]["p99_ms"] <= TARGET_READ_P99_MS
        and api["read"]["errors"] == 0,
    }
    for target, ok in met.items():
        print(f"{'met' if ok else 'MISSED'}: {target}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
