"""The connectors are a standalone package: importing every connector module loads nothing of the core."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import connectors

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib, json, pkgutil, sys
import connectors
names = sorted(m.name for m in pkgutil.walk_packages(connectors.__path__, "connectors."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "core": sorted(m for m in sys.modules if m.split(".")[0] == "ledger_pipeline")}))
"""


def test_every_connector_module_imports_without_the_core() -> None:
    expected = {m.name for m in pkgutil.walk_packages(connectors.__path__, "connectors.")}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert set(result["modules"]) == expected
    assert {"connectors.stripe", "connectors.quickbooks", "connectors.bank.bai2"} <= expected
    assert result["core"] == []
