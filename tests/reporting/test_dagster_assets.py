"""The dbt project as Dagster assets: keys, groups, lineage to the warehouse sync, the manifest preparer,
and a real materialization through Dagster on a synced DuckDB warehouse."""

from __future__ import annotations

import json
import os
import shutil

import dagster as dg
import pytest
from dagster_dbt import DbtProject

from ledger_pipeline import paths
from ledger_pipeline.defs.reporting.assets import build_reporting_assets, reporting
from ledger_pipeline.defs.reporting.project import (
    ParseWhenStalePreparer,
    ReportingDbtCliResource,
    manifest_is_stale,
)

MARTS = {"fct_ledger_entries", "dim_ledger_accounts", "fct_daily_account_balances", "rpt_transaction_volume",
         "rpt_cash_burn", "rpt_liabilities", "rpt_payouts", "rpt_trial_balance", "rpt_reconciliation_variances"}


@pytest.fixture(scope="module")
def reporting_graph():
    definitions = reporting()
    return definitions, definitions.get_repository_def().asset_graph


def test_every_model_is_a_reporting_asset_and_sources_are_warehouse_tables(reporting_graph):
    _, graph = reporting_graph
    project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)
    manifest = json.loads(project.manifest_path.read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    sources = {s["name"] for s in manifest["sources"].values()}
    assert MARTS <= models

    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert materializable == {dg.AssetKey(["reporting", m]) for m in models}
    assert {graph.get(k).group_name for k in materializable} == {"reporting"}
    # Every staging model reads a warehouse table the sync writes, so it runs after the sync.
    staging_parents = {
        parent
        for key in materializable if key.path[1].startswith("stg_")
        for parent in graph.get(key).parent_keys
    }
    assert staging_parents == {dg.AssetKey(["warehouse", s]) for s in sources}


def test_dbt_tests_are_asset_checks(reporting_graph):
    _, graph = reporting_graph
    checks = {(c.asset_key.path[-1], c.name) for c in graph.asset_check_keys}
    names_on_entries = {name for asset, name in checks if asset == "fct_ledger_entries"}
    assert any(name.startswith("sums_equal") for name in names_on_entries)
    assert any(name.startswith("unique_combination_of_columns") for asset, name in checks
               if asset == "fct_daily_account_balances")
    # the singular tests read several models: each names the one it checks, so none is logged as an observation
    assert {("fct_daily_account_balances", "assert_last_daily_balance_equals_ledger_balance"),
            ("rpt_transaction_volume", "assert_transaction_volume_matches_entries"),
            ("rpt_trial_balance", "assert_trial_balance_equals_stored_sums")} <= checks


@pytest.mark.slow
def test_preparer_parses_when_the_manifest_is_missing_or_stale(tmp_path):
    project_dir = tmp_path / "dbt_project"
    shutil.copytree(paths.DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    assert manifest_is_stale(project)

    ParseWhenStalePreparer().prepare_if_dev(project)
    assert project.manifest_path.exists() and not manifest_is_stale(project)

    # the manifest ten seconds old and a model edited after it (both in the past, so the parse that follows
    # writes a manifest newer than the model however quickly it runs)
    model = project_dir / "models" / "marts" / "rpt_payouts.sql"
    written = project.manifest_path.stat().st_mtime
    os.utime(project.manifest_path, (written - 10, written - 10))
    os.utime(model, (written - 5, written - 5))
    assert manifest_is_stale(project)
    ParseWhenStalePreparer().prepare_if_dev(project)
    assert not manifest_is_stale(project)


@pytest.mark.slow
def test_materialize_through_dagster(duckdb_warehouse, monkeypatch):
    """``dbt build`` run by dagster-dbt on a synced warehouse: every model materialized, every check passed."""
    for name, value in duckdb_warehouse.env.items():
        monkeypatch.setenv(name, value)
    project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)
    ParseWhenStalePreparer().prepare_if_dev(project)
    assets = build_reporting_assets(project)
    result = dg.materialize([assets], resources={"dbt": ReportingDbtCliResource(project_dir=project)},
                            raise_on_error=False)
    assert result.success
    materialized = {e.event_specific_data.materialization.asset_key
                    for e in result.get_asset_materialization_events()}
    assert {dg.AssetKey(["reporting", m]) for m in MARTS} <= materialized
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert evaluations and all(ev.passed for ev in evaluations)
