"""Local stand-ins for the cloud warehouses, each started as its own process on 127.0.0.1:

* fakesnow in server mode (Snowflake's HTTP protocol; the real snowflake-connector-python talks to it);
* moto's server (S3, for Redshift's staging step);
* bqemulator (BigQuery's REST API; the real google-cloud-bigquery client talks to it), installed in its
  own virtualenv by ``scripts/setup_bqemulator.sh`` and started by ``scripts/bqemulator_offline.py`` (no
  download of DuckDB's spatial extension).
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

from ledger_pipeline import paths

SCRIPTS = paths.PROJECT_ROOT / "scripts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"emulator did not listen on {port} within {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def _process(args: list[str], port: int, log: Path, timeout: float = 60.0, env: dict | None = None) -> Iterator[int]:
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        wait_for_port(port, process, timeout, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def fakesnow_server(workdir: Path) -> Iterator[dict]:
    port = free_port()
    with _process([sys.executable, "-m", "fakesnow", "-s", "-p", str(port), "--host", "127.0.0.1"], port,
                  workdir / "fakesnow.log"):
        yield {"host": "127.0.0.1", "port": port, "protocol": "http", "network_timeout": 5,
               "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    with _process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port,
                  workdir / "moto.log"):
        yield f"http://127.0.0.1:{port}"


def bqemulator_python() -> str:
    """The .venv-bq interpreter, creating that virtualenv on first use."""
    out = subprocess.run(["bash", str(SCRIPTS / "setup_bqemulator.sh")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def bigquery_emulator(workdir: Path, project: str = "wh-test") -> Iterator[str]:
    python = bqemulator_python()
    port, grpc_port = free_port(), free_port()
    with _process([python, str(SCRIPTS / "bqemulator_offline.py"), "--rest-port", str(port), "--grpc-port",
                   str(grpc_port), "--project", project, "--log-level", "warning"], port,
                  workdir / "bqemulator.log", timeout=120):
        yield f"http://127.0.0.1:{port}"
