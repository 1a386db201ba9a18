"""Every one of the 13 sources runs under Dagster: its assets materialise against a local API
(pytest-httpserver serving the recorded payloads through ``demo.mock_api``) or files in the landing folder,
twice, the second run adding nothing; a run killed after landing and before the cursor commit resumes
with nothing lost or doubled; an unconfigured source is absent; a failing source fails only itself."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import pytest
import yaml
from werkzeug.wrappers import Response

from ledger_pipeline.defs.ingest import config as sources_config
from ledger_pipeline.defs.ingest.assets import build_ingest_asset, raw_key, source_streams
from ledger_pipeline.defs.resources import pipeline_resources, pipeline_settings
from ledger_pipeline.demo.mock_api import API_SOURCES, MockApi, json_text
from ledger_pipeline.ingest.sources import SOURCES
from ledger_pipeline.ledger.store import Store
from tests.connectors.api_support import FIXTURES

#: files dropped in the landing folder for the sources read from files (and Stripe's report, beside its API)
LANDED_FILES = {
    "stripe": ["stripe/reports/balance_change_from_activity_itemized.csv"],
    "adyen": ["adyen/settlement/settlement_detail_report_batch_380.csv"],
    "bank": ["bank/bai2/daily.bai2", "bank/camt053/camt053.v2.all-balance-types.xml"],
    "events": ["events/wallet_events.jsonl"],
    "payment_orders": ["payment_orders/payment_orders.json"],
}


#: the sources with many streams run a few of them here (``streams:`` in sources.yaml), to keep the test short
STREAMS = {"stripe": ["balance_transactions", "payouts"], "quickbooks": ["invoices", "sales_receipts"]}


@pytest.fixture(scope="module")
def instance():
    """One in-memory Dagster instance for the module's runs (each test has its own store)."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def mock_api(httpserver):
    api = MockApi()

    def handler(request):
        status, body = api.respond(request.method, request.path, request.args.to_dict(), request.get_data())
        return Response(json_text(body), status=status, content_type="application/json")

    httpserver.expect_request(re.compile("^/")).respond_with_handler(handler)
    return api


def configure(tmp_path, monkeypatch, sources: dict) -> dict:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}))
    monkeypatch.setenv(sources_config.ENV_CONFIG_PATH, str(path))
    return sources


def api_on(httpserver, *names: str, **overrides: str) -> dict:
    return {n: {"api": True, "base_url": overrides.get(n) or httpserver.url_for(f"/{n}")} for n in names}


def drop_files(landing, source: str) -> None:
    folder = landing / source
    folder.mkdir(parents=True, exist_ok=True)
    for name in LANDED_FILES.get(source, []):
        shutil.copy(FIXTURES / name, folder / name.rsplit("/", 1)[1])


def materialize(*sources: str, instance) -> dg.ExecuteInProcessResult:
    settings = pipeline_settings()
    assets = [build_ingest_asset(settings.sources[s], owners=settings.owners, store_kind=settings.store_kind())
              for s in sources]
    return dg.materialize(assets, resources=pipeline_resources(settings), instance=instance, raise_on_error=False)


def landed(result: dg.ExecuteInProcessResult, source: str) -> dict[str, dict]:
    return {e.asset_key.path[1].split("__", 1)[1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.asset_key.path[1].startswith(f"{source}__")}


def stored(store_url: str, source: str) -> tuple[int, int, int]:
    """(raw records, distinct record versions, ledger transactions) of one source."""
    with Store(store_url).connect(read_only=True) as conn:
        raw = conn.scalar("SELECT count(*) FROM raw_records WHERE source = :s", {"s": source})
        distinct = conn.scalar("SELECT count(*) FROM (SELECT DISTINCT stream, object_id, record_hash FROM raw_records "
                               "WHERE source = :s) d", {"s": source})
        txs = conn.scalar("SELECT count(*) FROM ledger_transactions WHERE source = :s", {"s": source})
    return int(raw), int(distinct), int(txs)


def cursors(store_url: str, source: str) -> list[tuple]:
    with Store(store_url).connect(read_only=True) as conn:
        return conn.all("SELECT stream, cursor, updated_at, change_seq FROM connector_cursors WHERE source = :s "
                        "ORDER BY stream", {"s": source})


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_source_materialises_twice_the_second_run_adding_nothing(source, pipeline_paths, httpserver, mock_api,
                                                                        tmp_path, monkeypatch, instance):
    config = api_on(httpserver, source) if source in API_SOURCES else {}
    if source in STREAMS:
        config[source]["streams"] = STREAMS[source]
    configure(tmp_path, monkeypatch, config)
    drop_files(pipeline_paths["landing"], source)
    settings = pipeline_settings().sources[source]
    streams = source_streams(settings)

    first = materialize(source, instance=instance)
    assert first.success, first.get_step_failure_events()
    meta = landed(first, source)
    assert set(meta) == set(streams)  # one raw/<source>__<stream> asset a stream, all materialised
    raw, distinct, txs = stored(pipeline_paths["store_url"], source)
    assert raw == distinct > 0
    assert {m["source_records_landed_this_run"] for m in meta.values()} == {raw}
    assert sum(m["records_landed_this_run"] for m in meta.values()) == raw  # each record on its stream's asset
    if SOURCES[source].mapping:
        assert txs > 0
    if source in API_SOURCES:
        assert mock_api.requests > 0

    saved = cursors(pipeline_paths["store_url"], source)
    second = materialize(source, instance=instance)
    assert second.success
    # nothing new and no cursor moved: nothing written, the cursors' rows as they were
    assert cursors(pipeline_paths["store_url"], source) == saved
    again = landed(second, source)
    assert {s: m["records_landed_this_run"] for s, m in again.items()} == dict.fromkeys(streams, 0)
    assert {m["transactions_posted_this_run"] for m in again.values()} == {0}
    assert stored(pipeline_paths["store_url"], source) == (raw, distinct, txs)


def test_a_run_killed_between_landing_and_the_cursor_commit_resumes_exactly_once(pipeline_paths, httpserver,
                                                                                 mock_api, tmp_path, monkeypatch,
                                                                                 instance):
    """The cursor moves in the transaction that lands the records: a run that dies after landing and
    before the cursor commit leaves neither, and the next run lands every record once."""
    import ledger_pipeline.ingest.pipeline as pipeline_mod

    configure(tmp_path, monkeypatch, api_on(httpserver, "stripe"))
    seen_landed = []

    def killed(conn, source, stream, cursor, *, seq):
        seen_landed.append(conn.scalar("SELECT count(*) FROM raw_records WHERE source = 'stripe'"))
        raise RuntimeError("killed before the cursor commit")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline_mod, "save_cursor", killed)
        dead = materialize("stripe", instance=instance)
    assert not dead.success
    assert seen_landed and seen_landed[0] > 0  # the records were landed when the run died
    failure = dead.get_step_failure_events()[0].step_failure_data.error.message
    assert "stripe API stream balance_transactions" in failure and "killed" in failure
    assert stored(pipeline_paths["store_url"], "stripe") == (0, 0, 0)  # nothing of it was kept
    with Store(pipeline_paths["store_url"]).connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM connector_cursors") == 0

    resumed = materialize("stripe", instance=instance)
    assert resumed.success
    raw, distinct, txs = stored(pipeline_paths["store_url"], "stripe")
    assert raw == distinct == len(SOURCES["stripe"].api_streams)  # one recorded object a stream, each once
    with Store(pipeline_paths["store_url"]).connect(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM connector_cursors WHERE source = 'stripe'") == raw
        assert conn.scalar("SELECT count(DISTINCT external_id) FROM ledger_transactions") == txs


def test_one_failing_source_does_not_stop_the_others(pipeline_paths, httpserver, mock_api, tmp_path, monkeypatch,
                                                     instance):
    configure(tmp_path, monkeypatch, api_on(httpserver, "marqeta", "lithic",
                                            lithic=httpserver.url_for("/no-such-service")))
    result = materialize("marqeta", "lithic", instance=instance)
    assert not result.success
    failures = {e.step_key: e.step_failure_data.error.message for e in result.get_step_failure_events()}
    assert set(failures) == {"ingest_lithic"}
    assert "lithic API stream card_transactions" in failures["ingest_lithic"]
    assert "404" in failures["ingest_lithic"]
    assert landed(result, "marqeta")["transactions"]["records_landed_this_run"] == 1
    assert stored(pipeline_paths["store_url"], "marqeta")[2] == 1


def test_an_unconfigured_source_is_absent(pipeline_paths, tmp_path, monkeypatch):
    from ledger_pipeline.definitions import defs

    configure(tmp_path, monkeypatch, {"bank": {"files": False}})
    keys = {k.to_user_string() for k in defs().resolve_all_asset_keys()}
    raw_sources = {k.split("/")[1].split("__")[0] for k in keys if k.startswith("raw/")}
    # API-only sources without configuration, and a file source switched off, have no asset at all
    assert raw_sources == {s for s, spec in SOURCES.items() if spec.file_parser} - {"bank"}
    assert not any(s.name.startswith("ingest_") for s in defs().schedules)


@pytest.mark.parametrize("body, message", [
    ({"stripe": {"api": True, "api_key": "sk_live_x"}}, "secrets are not read from this file"),
    ({"stripe": {"api": True, "token": "x"}}, "secrets are not read"),
    ({"paypal": {"api": True}}, "unknown source 'paypal'"),
    ({"bank": {"api": True}}, "bank has no API mode"),
    ({"stripe": {"streams": ["invoices"]}}, "invoices not an API stream of stripe"),
    ({"stripe": {"schedul": "* * * * *"}}, "stripe.schedul: unknown setting"),
])
def test_the_sources_file_is_checked_and_never_holds_secrets(body, message, tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, body)
    with pytest.raises(sources_config.SourcesConfigError, match=re.escape(message)) as error:
        sources_config.load_sources()
    assert "sk_live_x" not in str(error.value)
    assert str(tmp_path / "sources.yaml") in str(error.value)  # the file is named


def test_the_environment_switches_an_api_source_on(monkeypatch):
    sources = sources_config.load_sources({"LEDGER_API_SOURCES": "stripe, lithic",
                                           "LEDGER_SOURCES_CONFIG": ""})
    assert {s.name for s in sources.values() if s.api_on()} == {"stripe", "lithic"}
    with pytest.raises(sources_config.SourcesConfigError, match="bank has no API mode"):
        sources_config.load_sources({"LEDGER_API_SOURCES": "bank"})


def test_every_source_has_raw_assets_schedules_and_honest_lineage(pipeline_paths, tmp_path, monkeypatch):
    from ledger_pipeline.definitions import defs

    configure(tmp_path, monkeypatch, {**{s: {"api": True, "base_url": f"http://127.0.0.1:9/{s}"} for s in API_SOURCES},
                                      "lithic": {"api": True, "schedule": "*/5 * * * *"}})
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    specs = {s.key: s for s in definitions.resolve_all_asset_specs()}
    raw = {k for k in specs if k.path[0] == "raw"}
    assert {k.path[1].split("__")[0] for k in raw} == set(SOURCES)  # all 13 sources
    for name, spec in SOURCES.items():
        assert {raw_key(name, s) for s in spec.api_streams} <= raw
    ledger = {k for k in specs if k.path[0] == "ledger"}
    for key in ledger:
        assert raw <= graph.get(key).parent_keys  # the ledger depends on every raw asset that feeds it
    sync = dg.AssetKey(["warehouse", "ledger_transactions"])
    assert dg.AssetKey(["ledger", "ledger_transactions"]) in graph.get(sync).parent_keys
    assert any(sync in graph.get(k).parent_keys for k in specs if k.path[0] == "reporting")
    # metadata: owners, kinds, a description of its own
    stripe = specs[raw_key("stripe", "balance_transactions")]
    assert {"stripe", "duckdb"} <= set(stripe.kinds) and stripe.owners == ["team:ledger"]
    assert "duckdb" in specs[sync].kinds and "dbt" in next(s.kinds for k, s in specs.items() if k.path[0] == "reporting")
    executable = [s for k, s in specs.items() if graph.get(k).is_executable]
    assert len({s.description for s in executable}) == len(executable)
    # a schedule and a job per API source, the configured cron or every 15 minutes
    schedules = {s.name: s for s in definitions.schedules}
    for name in API_SOURCES:
        schedule = schedules[f"ingest_{name}_schedule"]
        assert schedule.job_name == f"ingest_{name}_job"
        assert schedule.cron_schedule == ("*/5 * * * *" if name == "lithic" else "*/15 * * * *")
    # freshness: every warehouse table is stale after 30 minutes
    freshness = {k.asset_key for k in graph.asset_check_keys if k.name == "freshness_check"}
    assert freshness == {k for k in specs if k.path[0] == "warehouse" and graph.get(k).is_executable}


def test_only_the_scheme_of_the_store_url_is_read_at_load(monkeypatch):
    settings = pipeline_settings({"LEDGER_ENV": "production", "LEDGER_STORE_URL": "postgresql://u:secret@h/db"})
    monkeypatch.setenv("LEDGER_STORE_URL", "postgresql://u:secret@h/db")
    assert settings.store_kind() == "postgres"
    assert "secret" not in repr(settings)
