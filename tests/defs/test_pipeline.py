"""The graph runs: blocking checks stop everything downstream of a bad batch, a failed run leaves an
alert, dropped files start an ingest run. (The whole graph on the bundled scenario: tests/demo.)"""

from __future__ import annotations

import json
import os
import time
import uuid

import dagster as dg
import psycopg
import pytest
import yaml

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.events import list_events
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from ledger_pipeline.warehouse import TargetConfig, create_destination
from tests.conftest import PG_URL

BALANCED_AND_UNBALANCED = """external_id,account,direction,amount,currency
ok-1,cash,debit,10.00,USD
ok-1,revenue,credit,10.00,USD
bad-1,cash,debit,5.00,USD
bad-1,revenue,credit,4.99,USD
"""


def _accounts(store_url: str) -> Store:
    store = Store(store_url)
    initialize_store(store)
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec("cash", "debit", "USD"))
        ensure_account(conn, "main", AccountSpec("revenue", "credit", "USD"))
    return store


def _has_ancestor(graph, key, ancestors) -> bool:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent in ancestors:
                return True
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return False


def _drop(landing, name: str, text: str):
    folder = landing / "entries"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_unbalanced_batch_fails_the_blocking_check_and_nothing_downstream_runs(definitions, pipeline_paths, instance):
    store = _accounts(pipeline_paths["store_url"])
    _drop(pipeline_paths["landing"], "batch.csv", BALANCED_AND_UNBALANCED)
    job = definitions.resolve_job_def("ledger_pipeline_job")
    result = job.execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["rule_2_balanced_per_currency"].passed is False
    assert checks["rule_2_balanced_per_currency"].metadata["structural_refusals_open"].value == 1
    assert checks["trial_balance_zero"].passed is True  # the ledger itself stayed balanced
    assert checks["store_identities_hold"].passed is True
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    ledger = {k for k in job.asset_layer.executable_asset_keys if k.path[0] == "ledger"}
    assert ledger <= materialized
    graph = definitions.resolve_asset_graph()
    downstream = {k for k in job.asset_layer.executable_asset_keys
                  if k not in ledger and _has_ancestor(graph, k, ledger)}
    assert {k.path[0] for k in downstream} == {"recon", "warehouse", "reporting"}
    assert not downstream & materialized, downstream & materialized  # nothing downstream ran
    assert not pipeline_paths["warehouse"].exists()  # the sync never opened the warehouse
    with store.connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 1  # ok-1 posted
        assert conn.all("SELECT external_id, reason_code FROM quarantine") == [("bad-1", "unbalanced")]


def test_the_ledger_checks_pass_on_a_good_batch_and_carry_quarantine_counts(definitions, pipeline_paths, instance):
    _accounts(pipeline_paths["store_url"])
    _drop(pipeline_paths["landing"], "good.csv", "external_id,account,direction,amount,currency\n"
          "g-1,cash,debit,1.00,USD\ng-1,revenue,credit,1.00,USD\n"
          "g-2,cash,debit,1.001,USD\ng-2,revenue,credit,1.001,USD\n")
    result = definitions.resolve_job_def("ingest_job").execute_in_process(instance=instance)
    assert result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == "ledger"]
    assert len(evaluations) == 10 and all(e.passed for e in evaluations)
    rule_3 = next(e for e in evaluations if e.check_name == "rule_3_positive_integer_amounts")
    assert rule_3.metadata["quarantined_open_by_reason"].value["excess_precision"] == 1
    quarantine = next(e for e in result.get_asset_materialization_events()
                      if e.asset_key == dg.AssetKey(["ledger", "quarantine"]))
    assert quarantine.materialization.metadata["open_by_reason"].value["excess_precision"] == 1
    entries = next(e for e in result.get_asset_materialization_events()
                   if e.asset_key == dg.AssetKey(["ledger", "ledger_entries"]))
    assert entries.materialization.metadata["posted_debits_by_currency"].value == {"main/USD": 100}


def test_a_failed_run_records_an_alert(definitions, pipeline_paths, instance):
    store = _accounts(pipeline_paths["store_url"])
    _drop(pipeline_paths["landing"], "batch.csv", BALANCED_AND_UNBALANCED)
    result = definitions.resolve_job_def("ingest_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.is_run_failure)
    sensor = definitions.resolve_sensor_def("record_run_failure_alert")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run,
        dagster_event=failure.dagster_event, resources=definitions.resources,
    ).for_run_failure()
    sensor(context)
    with store.connect(read_only=True) as conn:
        alerts = list_events(conn, "pipeline.run_failed")
    assert len(alerts) == 1 and alerts[0]["object_id"] == result.run_id
    data = json.loads(alerts[0]["data"])
    assert data["job"] == "ingest_job"
    # the unbalanced transaction fails exactly the blocking rule 2 check, and the alert names that step
    failed_step = "ledger__ledger_transactions_rule_2_balanced_per_currency"
    assert data["failed_steps"] == [failed_step]
    assert failed_step in data["message"]
    assert data["tags"].get("dagster/failure_reason") == "STEP_FAILURE"


def test_the_landing_sensor_requests_one_run_per_new_settled_file(definitions, pipeline_paths, instance):
    landing = pipeline_paths["landing"]
    sensor = definitions.resolve_sensor_def("landing_folder_sensor")
    resources = {"landing": definitions.resources["landing"]}

    def tick(cursor=None):
        return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))

    assert isinstance(tick(), dg.SkipReason)  # no folder yet
    _drop(landing, "a.csv", BALANCED_AND_UNBALANCED)
    past = time.time() - 60
    os.utime(landing / "entries" / "a.csv", (past, past))
    first = tick()
    assert [r.job_name or "ingest_job" for r in first.run_requests] == ["ingest_job"]
    assert "entries/a.csv" in first.run_requests[0].tags["ledger/landed_files"]
    assert {k.path[0] for k in first.run_requests[0].asset_selection} == {"ledger"}  # no source's files
    assert isinstance(tick(first.cursor), dg.SkipReason)  # seen: nothing new
    (landing / "stripe").mkdir()
    (landing / "stripe" / "page.json").write_text("{}")
    os.utime(landing / "stripe" / "page.json", (past, past))
    stripe = tick(first.cursor)
    selected = {k.to_user_string() for k in stripe.run_requests[0].asset_selection}
    assert "raw/stripe__balance_transactions" in selected and "ledger/ledger_entries" in selected
    assert not any(k.startswith(("raw/adyen", "raw/lithic")) for k in selected)  # only the source that got files
    first = stripe
    (landing / "entries" / "b.csv").write_text(BALANCED_AND_UNBALANCED)  # still being written: wait
    # modified "now" as the tick sees it, however long the tick takes (a bare write would settle after
    # SETTLE_SECONDS on a slow machine)
    recent = time.time() + 3600
    os.utime(landing / "entries" / "b.csv", (recent, recent))
    assert isinstance(tick(first.cursor), dg.SkipReason)
    os.utime(landing / "entries" / "b.csv", (past, past))
    second = tick(first.cursor)
    assert second.run_requests[0].tags["ledger/landed_files"] == "entries/b.csv"
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    (landing / "entries" / "posted").mkdir()
    (landing / "entries" / "posted" / "c.csv").write_text("x")
    assert isinstance(tick(second.cursor), dg.SkipReason)  # archived files are not new work


@pytest.fixture
def postgres_pipeline(tmp_path, monkeypatch, pg_schema_url):
    """The environment switch's settings for a PostgreSQL store (``pg_schema_url``), a PostgreSQL warehouse
    target (a targets file) and dbt's postgres target, each in a scratch schema dropped afterwards."""
    schema = f"pipe_{uuid.uuid4().hex[:10]}"
    warehouse = TargetConfig("pg_wh", "postgres", {"url": PG_URL, "schema": f"{schema}_wh",
                                                   "retry": {"attempts": 1}})
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": {warehouse.name: {"type": warehouse.type, **warehouse.options}}}))
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    settings = {
        "LEDGER_ENV": "local", "LEDGER_STORE_URL": pg_schema_url, "LEDGER_LANDING_DIR": str(tmp_path / "landing"),
        "LEDGER_WAREHOUSE_TARGET": warehouse.name, "LEDGER_WAREHOUSE_CONFIG": str(targets),
        "LEDGER_DBT_TARGET": "postgres", "LEDGER_DBT_PG_HOST": info.get("host", "127.0.0.1"),
        "LEDGER_DBT_PG_PORT": str(info.get("port", 5432)), "LEDGER_DBT_PG_USER": info.get("user", "postgres"),
        "LEDGER_DBT_PG_PASSWORD": info.get("password", ""), "LEDGER_DBT_PG_DBNAME": info.get("dbname", "test"),
        "LEDGER_DBT_SCHEMA": schema, "LEDGER_WAREHOUSE_SCHEMA": f"{schema}_wh", "LEDGER_DBT_THREADS": "2",
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    try:
        yield {"store_url": pg_schema_url, "landing": tmp_path / "landing", "warehouse": warehouse,
               "reporting_schema": schema}
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            for name in (schema, f"{schema}_wh"):
                admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_the_graph_runs_on_a_postgresql_store_and_warehouse(postgres_pipeline, instance):
    """Ingest, then the warehouse sync and dbt build, as Dagster runs them, on PostgreSQL throughout: the
    warehouse equals the store (plain SQL over both) and the reports hold the posted entries."""
    from ledger_pipeline.definitions import defs
    from tests.warehouse.oracle import assert_warehouse_equals_store
    from tests.warehouse.settle import wait_until_settled

    store = _accounts(postgres_pipeline["store_url"])
    _drop(postgres_pipeline["landing"], "good.csv", "external_id,account,direction,amount,currency\n"
          "g-1,cash,debit,1.00,USD\ng-1,revenue,credit,1.00,USD\n"
          "g-2,cash,debit,2.50,USD\ng-2,revenue,credit,2.50,USD\n")
    definitions = defs()
    ingest = definitions.resolve_job_def("ingest_job").execute_in_process(instance=instance)
    assert ingest.success
    wait_until_settled(store)  # the shared server's xmin has passed every write: the sync moves them all
    result = definitions.resolve_job_def("warehouse_sync_job").execute_in_process(instance=instance)
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["warehouse", "ledger_entries"]) in materialized
    assert dg.AssetKey(["reporting", "rpt_trial_balance"]) in materialized
    synced = next(e for e in result.get_asset_materialization_events()
                  if e.asset_key == dg.AssetKey(["warehouse", "ledger_entries"]))
    assert synced.materialization.metadata["rows_synced"].value == 4
    assert_warehouse_equals_store(store, create_destination(postgres_pipeline["warehouse"]))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        entries = conn.execute(f'SELECT count(*), sum(amount_minor) FROM "{postgres_pipeline["reporting_schema"]}"'
                               ".fct_ledger_entries").fetchone()
    assert (entries[0], int(entries[1])) == (4, 2 * (100 + 250))


@pytest.mark.breaks_invariants
def test_the_identity_check_fails_on_a_store_corrupted_by_hand(store):
    """An entry whose transaction is gone leaves every sum balanced; the blocking identity check still fails."""
    from ledger_pipeline.defs.ledger.checks import store_identities_hold
    from ledger_pipeline.defs.resources import LedgerStoreResource
    from tests.ledger.conftest import create_chart, post, tx

    create_chart(store)
    post(store, [*tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")),
                 *tx("b", ("cash", "debit", "2"), ("revenue", "credit", "2"))])
    resource = LedgerStoreResource(url=store.url)
    assert store_identities_hold(ledger_store=resource).passed is True
    with store.transaction() as conn:
        conn.execute("DELETE FROM ledger_transactions WHERE external_id = 'b'")
    result = store_identities_hold(ledger_store=resource)
    assert result.passed is False
    assert result.metadata["violations_by_reason"].value["orphan_entry"] == 2
