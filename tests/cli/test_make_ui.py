"""``make ui PORT=...`` serves the Dagster UI on the port given (3000 by default), listens quickly, starts
without warnings and stops cleanly on Ctrl-C.

The UI runs on a ``DAGSTER_HOME`` of its own whose ``dagster.yaml`` is the one ``make ui`` writes, with the
run queue closed: the daemon starts and its sensors tick (the freshness sensor asks for a run as soon as it
starts), but no run process is launched, so Ctrl-C cannot land in a run starting up at that moment and print
that run's ``KeyboardInterrupt`` traceback. Ctrl-C is sent once the sensors' first ticks are over.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTEN_TIMEOUT_S = 600  # the bound for a loaded test machine; docs/benchmarks.md has the quiet-machine figure
STOP_TIMEOUT_S = 10


def _ui_command(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    run = subprocess.run(["make", "-n", "ui", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    return next(line for line in run.stdout.splitlines() if "dagster dev" in line and not line.startswith("#"))


def test_make_ui_takes_a_port():
    assert _ui_command("PORT=3111").endswith("-p 3111")
    assert _ui_command().endswith("-p 3000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


SENSORS_QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors {
  name sensorState { status ticks(limit: 1) { status } } } } } } }"""


def _settled(port: int) -> bool:
    """The code location has loaded (its warnings, if any, are in the log by then) and every running sensor
    has finished its first tick, so Ctrl-C reaches a UI with no evaluation in flight."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": SENSORS_QUERY}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            repositories = json.loads(response.read())["data"]["repositoriesOrError"]["nodes"]
    except (OSError, KeyError, TypeError, ValueError):
        return False
    running = [s["sensorState"] for r in repositories for s in r["sensors"] if s["sensorState"]["status"] == "RUNNING"]
    return bool(running) and all(state["ticks"] and state["ticks"][0]["status"] != "STARTED" for state in running)


@pytest.mark.slow
def test_make_ui_listens_and_stops_on_ctrl_c(tmp_path, capsys):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\ncode_servers:\n  local_startup_timeout: 600\n"
                                       "run_queue:\n  max_concurrent_runs: 0\n")
    env["DAGSTER_HOME"] = str(home)
    log = (tmp_path / "ui.log").open("w+")
    started = time.monotonic()
    # its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the whole group
    ui = subprocess.Popen(["make", "ui", f"PORT={port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    try:
        while not _answers(port):
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() - started < LISTEN_TIMEOUT_S, "the UI did not listen in time"
            time.sleep(0.2)
        listened = time.monotonic() - started
        with capsys.disabled():
            print(f"\nmake ui listened after {listened:.1f} s (load average {os.getloadavg()[0]:.1f})")
        while not _settled(port):
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() - started < LISTEN_TIMEOUT_S, "the code location and its sensors did not start in time"
            time.sleep(0.2)
        os.killpg(ui.pid, signal.SIGINT)
        stopping = time.monotonic()
        ui.wait(timeout=STOP_TIMEOUT_S + 20)
        stopped = time.monotonic() - stopping
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
    with capsys.disabled():
        print(f"make ui stopped {stopped:.1f} s after SIGINT")
    output = (tmp_path / "ui.log").read_text()
    assert stopped < STOP_TIMEOUT_S, output
    assert "Traceback" not in output, output
    assert not re.search(r"\w+Warning: |\bWARNING\b", output), output  # a Python warning or a WARNING log line
