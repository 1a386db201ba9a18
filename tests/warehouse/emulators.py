"""Local stand-ins for the cloud warehouses, each started as its own process on 127.0.0.1:

* fakesnow in server mode (Snowflake's HTTP protocol; the real snowflake-connector-python talks to it);
* moto's server (S3, for Redshift's staging step);
* bqemulator (BigQuery's REST API; the real google-cloud-bigquery client talks to it), installed in its
  own virtualenv by ``scripts/setup_bqemulator.sh`` and started by ``scripts/bqemulator_offline.py`` (no
  download of DuckDB's spatial extension).

Each emulator listens on a free port; an emulator that cannot bind it (another process took it first) is
started again on another one, and a port counts as ready only when the emulator's own process listens on it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from filelock import FileLock

from ledger_pipeline import paths

SCRIPTS = paths.PROJECT_ROOT / "scripts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listens(process: subprocess.Popen, port: int) -> bool:
    """Whether ``process`` (or a child of it) listens on ``port``: a connection alone could reach another
    process that holds the port."""
    try:
        parent = psutil.Process(process.pid)
        for proc in (parent, *parent.children(recursive=True)):
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.net_connections("inet")):
                return True
    except psutil.Error:
        pass
    return False


class PortTaken(RuntimeError):
    """The emulator exited before it listened, most likely because another process took its port."""


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            error = PortTaken if "address already in use" in text.lower() else RuntimeError
            raise error(f"emulator exited with {process.returncode}: {text[-2000:]}")
        if _listens(process, port):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"emulator did not listen on {port} within {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def _process(make_args, log: Path, timeout: float = 60.0, env: dict | None = None,
             ports: int = 1) -> Iterator[list[int]]:
    """Start ``make_args(*ports)`` on free ports and wait until it listens on the first; three tries when
    a port was taken in between."""
    for attempt in range(3):
        chosen = [free_port() for _ in range(ports)]
        with open(log, "wb") as out:
            process = subprocess.Popen(make_args(*chosen), stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, **(env or {})})
        try:
            wait_for_port(chosen[0], process, timeout, log)
            break
        except PortTaken:
            if attempt == 2:
                raise
        except BaseException:
            _stop(process)
            raise
    try:
        yield chosen
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextmanager
def fakesnow_server(workdir: Path) -> Iterator[dict]:
    with _process(lambda port: [sys.executable, "-m", "fakesnow", "-s", "-p", str(port), "--host", "127.0.0.1"],
                  workdir / "fakesnow.log") as (port,):
        yield {"host": "127.0.0.1", "port": port, "protocol": "http", "network_timeout": 5,
               "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    with _process(lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  workdir / "moto.log") as (port,):
        yield f"http://127.0.0.1:{port}"


def bqemulator_python() -> str:
    """The .venv-bq interpreter, creating that virtualenv on first use (once: a second worker, or a second
    run in the same checkout, waits on the lock and then finds it made)."""
    paths.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with FileLock(str(paths.VAR_DIR / "venv-bq.lock"), timeout=900):
        out = subprocess.run(["bash", str(SCRIPTS / "setup_bqemulator.sh")], check=True, capture_output=True,
                             text=True)
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def bigquery_emulator(workdir: Path, project: str = "wh-test") -> Iterator[str]:
    python = bqemulator_python()
    with _process(lambda port, grpc_port: [
            python, str(SCRIPTS / "bqemulator_offline.py"), "--rest-port", str(port), "--grpc-port", str(grpc_port),
            "--project", project, "--log-level", "warning"], workdir / "bqemulator.log", timeout=120, ports=2) as (port, _):
        yield f"http://127.0.0.1:{port}"
