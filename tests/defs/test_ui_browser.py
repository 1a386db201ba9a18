"""A real browser against ``dagster dev``: the UI serves our code location, its GraphQL API lists the assets
and checks, and headless Chromium renders the ledger layer's asset graph with its checks (saved as a PNG).

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Without it the test fails (it does not
skip) unless ``LEDGER_TEST_ALLOW_NO_BROWSER=1`` says the machine cannot have one.
The server runs with a temporary DAGSTER_HOME (telemetry off), a temporary store and its own copy of the dbt
project (``LEDGER_HOME``: ``dagster dev`` re-parses the project, and other tests running alongside read the
checkout's manifest), and is stopped by its
PID (SIGINT, then SIGTERM / SIGKILL of its process group if it does not stop). The screenshot is kept at
``$LEDGER_UI_SCREENSHOT`` when set (``var/ui/asset_graph.png`` is a good place to look at it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from ledger_pipeline import paths

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1920,1200")
STARTUP_TIMEOUT_S = 600  # a cold start parses the dbt project; the test machine is shared and busy
ASSETS_QUERY = """{ assetNodes { assetKey { path } groupName
  assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("LEDGER_TEST_ALLOW_NO_BROWSER") == "1":
        pytest.skip("chromium is not installed and LEDGER_TEST_ALLOW_NO_BROWSER=1")
    pytest.fail("chromium is required for the browser test: apt-get install -y chromium", pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen) -> None:
    """Stop ``dagster dev`` by its PID; its webserver, daemon and code server share its process group."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    try:  # children that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group(proc) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except (ProcessLookupError, PermissionError):
        return None


@pytest.fixture
def dagster_dev(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\ncode_servers:\n  local_startup_timeout: {STARTUP_TIMEOUT_S}\n")
    ledger_home = tmp_path / "ledger_home"
    shutil.copytree(paths.DBT_PROJECT_DIR, ledger_home / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_TELEMETRY_DISABLED": "true",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "LEDGER_ENV": "local", "LEDGER_HOME": str(ledger_home),
           "LEDGER_STORE_URL": f"duckdb:///{tmp_path / 'ledger.duckdb'}",
           "LEDGER_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
           "LEDGER_LANDING_DIR": str(tmp_path / "landing"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(tmp_path / "dagster_dev.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=paths.PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield port, process, tmp_path / "dagster_dev.log"
    finally:
        _stop(process)
        log.close()
        time.sleep(1)
        left = [p for p in psutil.process_iter(["pid", "status"])
                if _group(p) == process.pid and p.info["status"] != psutil.STATUS_ZOMBIE]
        assert not left, f"processes of dagster dev still running: {left}"


def _wait_for_assets(port: int, process: subprocess.Popen, log: Path) -> list[dict]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            nodes = _graphql(port, ASSETS_QUERY).get("data", {}).get("assetNodes") or []
            if nodes:
                return nodes
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster dev did not serve the assets within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def test_dagster_dev_serves_the_asset_graph_to_a_real_browser(dagster_dev, tmp_path):
    chromium = _chromium()
    port, process, log = dagster_dev
    nodes = _wait_for_assets(port, process, log)

    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    for expected in ("raw/stripe__balance_transactions", "ledger/ledger_transactions", "ledger/quarantine",
                     "recon/recon_matches", "warehouse/ledger_entries", "reporting/rpt_trial_balance"):
        assert expected in keys, expected
    checks = {c["name"] for n in nodes if n["assetChecksOrError"]["__typename"] == "AssetChecks"
              for c in n["assetChecksOrError"]["checks"]}
    assert {"rule_2_balanced_per_currency", "trial_balance_zero", "balances_match_entries",
            "variance_within_tolerance"} <= checks
    jobs = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } "
                          "schedules { name cronSchedule } sensors { name } } } } }")
    repository = jobs["data"]["repositoriesOrError"]["nodes"][0]
    assert {"ingest_job", "reconciliation_job", "warehouse_sync_job"} <= {j["name"] for j in repository["jobs"]}
    assert {"warehouse_sync_every_15_minutes": "5-59/15 * * * *"}.items() <= {
        s["name"]: s["cronSchedule"] for s in repository["schedules"]}.items()

    location = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { location { name } } } } }")
    location = location["data"]["repositoriesOrError"]["nodes"][0]["location"]["name"]
    # the first visit of a local UI shows a newsletter dialog over the graph; mark it seen, as its button does
    assert _graphql(port, "mutation { setNuxSeen }")["data"]["setNuxSeen"] is True
    url = f"http://127.0.0.1:{port}/locations/{location}/asset-groups/ledger/lineage"
    profile = tmp_path / "chromium-profile"
    browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=45000"]
    png = tmp_path / "asset_graph.png"
    subprocess.run([*browser, f"--screenshot={png}", url], capture_output=True, timeout=300, check=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1920, 1200)
    assert len(data) > 50_000  # a rendered graph (about 150 KB), not a blank or half-loaded page (about 20 KB)
    keep = os.environ.get("LEDGER_UI_SCREENSHOT")
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, keep)
