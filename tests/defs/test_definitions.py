"""The code location loads, and holds exactly the assets, checks, jobs, schedules and sensors we expect
(a stale import or a lost asset shows up here first)."""

from __future__ import annotations

import dagster as dg
import pytest

from ledger_pipeline import paths
from ledger_pipeline.defs.resources import pipeline_settings
from ledger_pipeline.defs.schedules import WAREHOUSE_SYNC_CRON

#: with no sources.yaml: every source that reads files, from the landing folder (the API-only sources,
#: NetSuite, Workday and Peach, appear once switched on: tests/defs/test_sources.py)
RAW_ASSETS = {"raw/stripe__balance_transactions", "raw/stripe__charges", "raw/stripe__refunds", "raw/stripe__payouts",
              "raw/stripe__disputes", "raw/stripe__transfers", "raw/stripe__application_fees",
              "raw/stripe__balance_report", "raw/stripe__payout_reconciliation_report",
              "raw/adyen__settlement_details", "raw/adyen__payments_accounting", "raw/adyen__notifications",
              "raw/bank__statement_lines", "raw/bank__statement_balances", "raw/events__events",
              "raw/payment_orders__payment_orders",
              *(f"raw/quickbooks__{s}" for s in ("journal_entries", "payments", "invoices", "deposits", "transfers",
                                                 "bill_payments", "sales_receipts")),
              *(f"raw/lithic__{s}" for s in ("card_transactions", "payments", "book_transfers", "balances")),
              "raw/marqeta__transactions", "raw/loanpro__loan_transactions",
              *(f"raw/chargebee__{s}" for s in ("invoices", "transactions", "credit_notes"))}
LEDGER_ASSETS = {"ledger/ledger_transactions", "ledger/ledger_entries", "ledger/ledger_account_balances",
                 "ledger/quarantine"}
RECON_ASSETS = {"recon/bank_statements", "recon/recon_runs", "recon/recon_balance_variances", "recon/recon_matches",
                "recon/recon_match_items", "recon/recon_unmatched", "recon/processor_settlement_items"}
WAREHOUSE_TABLES = {"ledgers", "ledger_accounts", "ledger_transactions", "ledger_entries", "ledger_account_balances",
                    "ledger_account_categories", "ledger_account_category_accounts",
                    "ledger_account_category_children", "events", "quarantine", "audit_log", "internal_accounts",
                    "external_accounts", "payment_orders", "bank_statements", "bank_statement_lines",
                    "processor_settlement_items", "recon_runs", "recon_balance_variances", "recon_matches",
                    "recon_match_items", "recon_unmatched"}
WAREHOUSE_ASSETS = {f"warehouse/{t}" for t in WAREHOUSE_TABLES}
#: the dbt models, read from the dbt project's files (not from Dagster): one ``reporting/<model>`` each
REPORTING_ASSETS = {f"reporting/{p.stem}" for p in (paths.DBT_PROJECT_DIR / "models").rglob("*.sql")}
EXPECTED_ASSETS = RAW_ASSETS | LEDGER_ASSETS | RECON_ASSETS | WAREHOUSE_ASSETS | REPORTING_ASSETS
#: dbt sources the sync does not export would show up as external assets: the sync publishes every one
EXTERNAL_SOURCES: set[str] = set()

RULE_CHECKS = {
    "ledger/ledger_transactions:rule_1_at_least_two_entries_both_sides",
    "ledger/ledger_transactions:rule_2_balanced_per_currency",
    "ledger/ledger_transactions:rule_3_positive_integer_amounts",
    "ledger/ledger_transactions:rule_4_accounts_valid",
    "ledger/ledger_transactions:rule_5_unique_external_id",
    "ledger/ledger_transactions:rule_6_status_consistent",
    "ledger/ledger_transactions:rule_7_balance_limits_hold",
}
INVARIANT_CHECKS = {"ledger/ledger_entries:trial_balance_zero", "ledger/ledger_entries:store_identities_hold",
                    "ledger/ledger_account_balances:balances_match_entries"}
RECON_CHECKS = {"recon/recon_balance_variances:variance_within_tolerance",
                "recon/processor_settlement_items:processor_payouts_balanced"}
FRESHNESS_CHECKS = {f"warehouse/{t}:freshness_check" for t in WAREHOUSE_TABLES}
EXPECTED_CHECKS = RULE_CHECKS | INVARIANT_CHECKS | RECON_CHECKS | FRESHNESS_CHECKS
EXPECTED_JOBS = {"ingest_job", "reconciliation_job", "warehouse_sync_job", "ledger_pipeline_job"}
EXPECTED_SCHEDULES = {"warehouse_sync_every_15_minutes", "daily_reconciliation"}
EXPECTED_SENSORS = {"landing_folder_sensor", "record_run_failure_alert", "warehouse_freshness_checks"}


def _check_names(definitions: dg.Definitions) -> set[str]:
    return {f"{k.asset_key.to_user_string()}:{k.name}" for k in definitions.resolve_asset_graph().asset_check_keys}


def test_definitions_load_with_the_expected_assets_and_checks(definitions):
    dg.Definitions.validate_loadable(definitions)
    assert len(REPORTING_ASSETS) >= 10
    keys = {k.to_user_string() for k in definitions.resolve_all_asset_keys()}
    assert keys - EXTERNAL_SOURCES == EXPECTED_ASSETS
    executable = {s.key.to_user_string() for s in definitions.resolve_all_asset_specs()
                  if definitions.resolve_asset_graph().get(s.key).is_executable}
    assert executable == EXPECTED_ASSETS
    checks = _check_names(definitions)
    assert {c for c in checks if not c.startswith("reporting/")} == EXPECTED_CHECKS
    dbt_tests = {c for c in checks if c.startswith("reporting/")}
    assert len(dbt_tests) >= 10  # dbt's data tests, shown as checks of the models they test


def test_asset_keys_are_layer_and_table_and_group_is_the_layer(definitions):
    graph = definitions.resolve_asset_graph()
    for spec in definitions.resolve_all_asset_specs():
        if not graph.get(spec.key).is_executable:
            continue
        layer, table = spec.key.path
        assert layer in {"raw", "ledger", "recon", "warehouse", "reporting"}, spec.key
        assert spec.group_name == layer, spec.key
        assert table


def test_jobs_schedules_sensors(definitions):
    jobs = {j.name for j in definitions.resolve_all_job_defs() if not j.name.startswith("__")}
    assert jobs == EXPECTED_JOBS
    assert {s.name for s in definitions.schedules} == EXPECTED_SCHEDULES
    assert {s.name for s in definitions.sensors} == EXPECTED_SENSORS


def test_the_sync_runs_every_15_minutes_and_reconciliation_daily(definitions):
    sync = definitions.resolve_schedule_def("warehouse_sync_every_15_minutes")
    assert sync.cron_schedule == "5-59/15 * * * *" == WAREHOUSE_SYNC_CRON  # 5 minutes after the sources' ticks
    assert sync.job_name == "warehouse_sync_job"
    assert sync.execution_timezone == "UTC"
    daily = definitions.resolve_schedule_def("daily_reconciliation")
    assert daily.job_name == "reconciliation_job"
    minute, hour, *every_day = daily.cron_schedule.split()  # one run a day, at a fixed time
    assert minute.isdigit() and hour.isdigit() and every_day == ["*", "*", "*"]


def test_every_check_that_guards_the_ledger_is_blocking(definitions):
    graph = definitions.resolve_asset_graph()
    for key in graph.asset_check_keys:
        if key.asset_key.path[0] == "ledger":
            assert graph.get_check_spec(key).blocking, key


def test_jobs_use_the_in_process_executor(definitions):
    for job in definitions.resolve_all_job_defs():
        assert job.executor_def.name == "in_process", job.name


def test_one_environment_switch(monkeypatch):
    assert pipeline_settings({}).environment == "local"
    production = pipeline_settings({"LEDGER_ENV": "production", "LEDGER_STORE_URL": "postgresql://u:secret@h/db"})
    assert isinstance(production.store_url, dg.EnvVar)  # resolved at run time, never stored in the definitions
    assert "secret" not in repr(production)
    with pytest.raises(ValueError, match="LEDGER_ENV"):
        pipeline_settings({"LEDGER_ENV": "staging"})


def test_schedules_are_on_in_production_and_stopped_locally(monkeypatch, pipeline_paths):
    from ledger_pipeline.definitions import defs

    local = defs()
    assert local.resolve_schedule_def("warehouse_sync_every_15_minutes").default_status == dg.DefaultScheduleStatus.STOPPED
    monkeypatch.setenv("LEDGER_ENV", "production")
    production = defs()
    assert production.resolve_schedule_def("warehouse_sync_every_15_minutes").default_status == dg.DefaultScheduleStatus.RUNNING


def test_dbt_is_found_when_the_environment_is_not_activated(monkeypatch):
    """``.venv/bin/ledger-pipeline demo`` without the venv's folder on PATH still finds the venv's dbt."""
    import shutil
    import sys
    from pathlib import Path

    from ledger_pipeline.defs.reporting.project import dbt_on_path

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("dbt") is None
    dbt_on_path()
    assert Path(shutil.which("dbt")).parent == Path(sys.executable).parent


def test_the_code_location_is_named_after_the_project():
    import tomllib

    import yaml

    pyproject = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())
    workspace = yaml.safe_load((paths.PROJECT_ROOT / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["python_module"]["location_name"] == pyproject["project"]["name"] == "ledger-pipeline"
    assert pyproject["tool"]["dg"]["project"]["code_location_name"] == "ledger-pipeline"  # dg's own name for it
