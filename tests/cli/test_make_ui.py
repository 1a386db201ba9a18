"""``make ui PORT=...`` serves the Dagster UI on the port given (3000 by default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ui_command(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    run = subprocess.run(["make", "-n", "ui", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    return next(line for line in run.stdout.splitlines() if "dagster dev" in line)


def test_make_ui_takes_a_port():
    assert _ui_command("PORT=3111").endswith("-p 3111")
    assert _ui_command().endswith("-p 3000")
