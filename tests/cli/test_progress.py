"""Progress on long work: on a terminal, ``post`` (and ``ingest``, ``sync``, ``reconcile``) show their phases
with row counts on stderr; piped, or with ``--json``, the output stays clean (nothing on stderr)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import run_cli

BATCH = "external_id,account,direction,amount_minor\na,cash,debit,100\na,revenue,credit,100\n"
REPORT = (Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "reports"
          / "balance_change_from_activity_itemized.csv")


def _on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in an operator's shell), stdout piped."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", "from ledger_pipeline.cli import app; app()", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=slave, text=True,
                            env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout=120), out, b"".join(chunks).decode(errors="replace")


def _accounts(url: str, cwd: Path) -> None:
    for name, normal in (("cash", "debit"), ("revenue", "credit")):
        assert run_cli("accounts", "create", name, "--normal-balance", normal, "--currency", "USD",
                       "--store", url, cwd=cwd).code == 0


def test_post_shows_its_phases_on_a_terminal_only(ready_store, tmp_path):
    _accounts(ready_store, tmp_path)
    (tmp_path / "e.csv").write_text(BATCH)
    code, out, err = _on_a_terminal("post", "e.csv", "--store", ready_store, cwd=tmp_path)
    assert code == 0, err
    assert "post e.csv: written (created 1, quarantined 0)" in err
    assert "Posted e.csv" in out and "\x1b" not in out

    (tmp_path / "f.csv").write_text(BATCH.replace("a,", "b,"))
    code, out, err = _on_a_terminal("post", "f.csv", "--store", ready_store, "--json", cwd=tmp_path)
    assert code == 0 and err == ""  # JSON is for machines: no progress even on a terminal
    assert out.startswith('{\n  "version": 1')


def test_piped_output_stays_clean(ready_store, tmp_path):
    _accounts(ready_store, tmp_path)
    (tmp_path / "e.csv").write_text(BATCH)
    (tmp_path / "wh.yaml").write_text(f"targets:\n  local:\n    type: duckdb\n    path: {tmp_path / 'wh.duckdb'}\n")
    for args in (["post", "e.csv"], ["ingest", "stripe", "--file", str(REPORT)], ["reconcile"],
                 ["sync", "--target", "local", "--config", "wh.yaml"]):
        run = run_cli(*args, "--store", ready_store, cwd=tmp_path)
        assert run.code == 0, (args, run.err)
        assert run.err == "", (args, run.err)
        assert "\x1b" not in run.out and "⠋" not in run.out, args
