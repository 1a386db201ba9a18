"""What every benchmark reports beside its table: the machine's load while it ran, and its figures as JSON in
``bench/out/``, from which docs/benchmarks.md's table is written."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "out"


def load_line(load_before: float) -> str:
    """The 1-minute load average before the runs (``load_before``) and now, and the number of CPUs."""
    return f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"


def save(name: str, figures: Mapping[str, Any]) -> Path:
    """Write ``figures`` to ``bench/out/<name>.json``; returns the path."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2))
    return path
