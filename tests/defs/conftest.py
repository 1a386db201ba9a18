"""Definitions loaded against a temporary store, warehouse and landing folder (through the environment
switch's settings, as in production)."""

from __future__ import annotations

import dagster as dg
import pytest


@pytest.fixture(autouse=True)
def _manifest(dbt_manifest):
    """The definitions include the dbt assets, read from the manifest prepared once per run."""


@pytest.fixture
def pipeline_paths(tmp_path, monkeypatch):
    paths = {
        "store_url": f"duckdb:///{tmp_path / 'ledger.duckdb'}",
        "warehouse": tmp_path / "warehouse.duckdb",
        "landing": tmp_path / "landing",
    }
    monkeypatch.setenv("LEDGER_ENV", "local")
    monkeypatch.setenv("LEDGER_STORE_URL", paths["store_url"])
    monkeypatch.setenv("LEDGER_WAREHOUSE_PATH", str(paths["warehouse"]))
    monkeypatch.setenv("LEDGER_LANDING_DIR", str(paths["landing"]))
    return paths


@pytest.fixture
def definitions(pipeline_paths) -> dg.Definitions:
    from ledger_pipeline.definitions import defs

    return defs()


@pytest.fixture
def instance():
    """An in-memory Dagster instance: runs and their events are kept for the test to read, without the
    SQLite files (a commit per event) of ``dg.instance_for_test``."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
