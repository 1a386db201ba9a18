"""The Dagster code location (``workspace.yaml``): everything under ``ledger_pipeline/defs/``, found by walking
the folder (``[tool.dg]`` in pyproject.toml names it), so nothing is listed here by hand."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
