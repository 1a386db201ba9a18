"""``ledger-pipeline demo``: the whole Dagster graph, in process, on the bundled scenario.

1. the scenario's files are generated (from a seed) into a fresh landing folder, ``var/demo/landing``;
2. the ERP's chart of accounts is set up in the store;
3. a mock of the sources' APIs starts on 127.0.0.1 (``demo/mock_api.py``: the recorded payloads of
   ``tests/fixtures/``), and Stripe, Lithic, QuickBooks and Chargebee are switched on in API mode against it;
   it stops when the run ends;
4. ``ledger_pipeline_job`` runs in this process (Dagster's in-process executor) against the embedded
   default store and the local DuckDB warehouse file, every asset check with it;
5. a summary says what this run changed and where to look next.

Dagster's and dbt's own output goes to a log file (``var/demo/demo.log``), not the terminal: the caller's
``progress`` hook hears one ``step`` event per step as it ends, its output back on the terminal.

The run is recorded in ``DAGSTER_HOME`` when it is set (``make demo`` sets it, so ``make ui`` shows the
run, its asset materializations and check results), in a throwaway instance otherwise. Everything is
idempotent: a second demo over the same store ingests, posts and syncs nothing new.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_pipeline import paths
from ledger_pipeline.demo.mock_api import serve_sources
from ledger_pipeline.demo.scenario import (
    DEFAULT_SEED,
    ERP_ACCOUNTS,
    EU_IBAN,
    SELLERS,
    US_BANK_ACCOUNT,
    US_PAYOUTS_ACCOUNT,
    generate_scenario,
    seller_bank_account,
)
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.categories import assign_categories
from ledger_pipeline.ledger.quarantine import list_quarantine
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.progress import ProgressHook, no_progress
from ledger_pipeline.store_setup import initialize_store

MAIN_JOB = "ledger_pipeline_job"
#: (internal account, identifier on the statements, currency, bank, linked ledger account)
BANK_ACCOUNTS = (
    (US_PAYOUTS_ACCOUNT, US_BANK_ACCOUNT, "USD", "First Demo Bank", "stripe:payouts_to_bank:USD"),
    ("eu_payouts", EU_IBAN, "EUR", "Demo Bank Europe", "adyen:payouts_to_bank:EUR"),
)


@dataclass
class DemoResult:
    success: bool
    seconds: float
    store: str
    warehouse: str
    landing: str
    log: str
    dagster_run_id: str
    records_ingested: dict[str, int] = field(default_factory=dict)
    transactions: dict[str, int] = field(default_factory=dict)
    entries: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    reporting: dict[str, Any] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)
    scenario: dict[str, Any] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The pipeline's settings are read from the environment when its definitions load (see
    ``defs/resources.py``); the demo points them at its own store and folders for the run, then restores."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _output_to(log: Path, progress: ProgressHook) -> Iterator[ProgressHook]:
    """What the steps print and log (Dagster's events and warnings, dbt's lines, from a subprocess too) goes
    to ``log``, at the file-descriptor level, so that the terminal shows only the caller's progress and
    summary (``--json`` stays parseable). Yields ``progress`` relayed to the terminal's stdout."""
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    streams = sys.stdout, sys.stderr
    with log.open("a", encoding="utf-8", buffering=1) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = sink  # what Python writes (dagster-dbt echoes dbt's lines), whatever
        # sys.stdout was (a test harness's capture)

        def relay(event: str, detail: Mapping[str, Any]) -> None:
            sys.stdout = terminal
            try:
                progress(event, detail)
            finally:
                terminal.flush()
                sys.stdout = sink

        try:
            yield relay
        finally:
            sink.flush()
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def _step_events(progress: ProgressHook):
    """A Dagster logger that reports each step as it ends: ``step`` with its name, ``ok`` or ``failed``, the
    assets it materialized and its seconds."""
    import logging

    import dagster as dg

    materialized: dict[str, int] = {}

    class StepHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = getattr(record, "dagster_event", None) or meta.get("dagster_event")
            if event is None or not event.step_key:
                return
            kind = event.event_type_value
            if kind == "ASSET_MATERIALIZATION":
                materialized[event.step_key] = materialized.get(event.step_key, 0) + 1
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                duration = getattr(event.event_specific_data, "duration_ms", None)
                progress("step", {"step": event.step_key, "status": "ok" if kind == "STEP_SUCCESS" else "failed",
                                  "assets": materialized.get(event.step_key, 0),
                                  "seconds": None if duration is None else round(duration / 1000, 1)})

    @dg.logger(description="Reports each step of the demo as it ends.")
    def steps(_context):
        log = logging.getLogger("ledger_pipeline.demo.steps")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.handlers = [StepHandler()]
        return log

    return steps


def _instance():
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
        config = Path(home) / "dagster.yaml"
        if not config.exists():
            config.write_text("telemetry:\n  enabled: false\ncode_servers:\n  local_startup_timeout: 600\n")
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def seller_wallet(seller: str) -> AccountSpec:
    """The ledger account of what the marketplace owes a seller: the events mapping's ``wallets`` account
    for the seller's deposits (USD), exactly as ingesting them would create it."""
    from ledger_pipeline.ingest.mapping import load_mapping

    mapping = load_mapping("events.yaml")
    wallets = mapping.accounts["wallets"]
    name = wallets.name.replace("{data.user_id}", seller).replace("{currency}", "USD")
    return AccountSpec(name=name, normal_balance=wallets.normal_balance, currency="USD",
                       description=wallets.description,
                       metadata={"source": mapping.source, "chart_key": wallets.key})


def setup_chart(store: Store) -> None:
    """The marketplace's set-up: the ERP's accounts (the processors' come from the ingest mappings), its
    bank accounts, linked to the ledger accounts that mirror them so that reconciliation compares them, and
    its sellers' bank accounts, linked to the sellers' wallets so that a payout's payment order is
    default-ledgered (debit the wallet, credit the bank account)."""
    from ledger_pipeline.ingest.mapping import load_mapping
    from ledger_pipeline.reconcile.accounts import (
        EXTERNAL,
        INTERNAL,
        ensure_external_account,
        ensure_internal_account,
        link_ledger_account,
    )

    initialize_store(store)
    memberships: list[tuple[str, str]] = []  # (category, account): reports select accounts by category
    with store.transaction() as conn:
        for name, normal, currency, category in ERP_ACCOUNTS:
            ensure_account(conn, "main", AccountSpec(name=name, normal_balance=normal, currency=currency,
                                                     description="ERP general ledger account",
                                                     metadata={"source": "erp"}), actor="demo")
            memberships.append((category, name))
        for name, identifier, currency, bank, ledger_account in BANK_ACCOUNTS:
            ensure_internal_account(conn, name, identifier, currency, bank_name=bank, actor="demo")
            # the processors' payout accounts, as their ingest mappings define them (debit-normal)
            ensure_account(conn, "main", AccountSpec(name=ledger_account, normal_balance="debit", currency=currency,
                                                     description="Payouts to the bank account"), actor="demo")
            link_ledger_account(conn, ledger_account, INTERNAL, name, actor="demo")
            memberships.append(("bank_accounts", ledger_account))
        wallet_categories = load_mapping("events.yaml").accounts["wallets"].categories
        for seller in SELLERS:
            ensure_external_account(conn, seller_bank_account(seller), "USD", party_name=seller, actor="demo")
            wallet = seller_wallet(seller)
            ensure_account(conn, "main", wallet, actor="demo")
            link_ledger_account(conn, wallet.name, EXTERNAL, seller_bank_account(seller), actor="demo")
            memberships += [(category, wallet.name) for category in wallet_categories]
        assign_categories(conn, "main", memberships, actor="demo")


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two ``_store_summary`` readings: counts as differences, the quarantine items
    that are new."""
    def delta(key: str) -> dict[str, int]:
        keys = sorted(set(before[key]) | set(after[key]))
        return {k: after[key].get(k, 0) - before[key].get(k, 0) for k in keys
                if after[key].get(k, 0) != before[key].get(k, 0)}

    seen = {q["id"] for q in before["quarantined"]}
    return {"transactions": delta("transactions"), "records": delta("records"),
            "entries": after["entries"] - before["entries"],
            "quarantined": [q for q in after["quarantined"] if q["id"] not in seen]}


def _store_summary(store: Store) -> dict[str, Any]:
    with store.connect(read_only=True) as conn:
        statuses = {s: int(n) for s, n in conn.all(
            "SELECT status, count(*) FROM ledger_transactions GROUP BY status ORDER BY status")}
        entries = int(conn.scalar("SELECT count(*) FROM ledger_entries") or 0)
        quarantine = [
            {"id": r["id"], "reason_code": r["reason_code"], "source": r["source"],
             "external_id": r["external_id"], "reason": r["reason"]}
            for r in list_quarantine(conn, status="open", limit=1000)
        ]
        tables = {t for (t,) in conn.all("SELECT table_name FROM information_schema.tables")}
        raw: dict[str, int] = {}
        if "raw_records" in tables:
            raw = {s: int(n) for s, n in conn.all(
                "SELECT source, count(*) FROM raw_records GROUP BY source ORDER BY source")}
    return {"transactions": statuses, "entries": entries, "quarantined": quarantine, "records": raw}


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def run_demo(*, seed: int = DEFAULT_SEED, store_url: str | None = None, warehouse_path: Path | None = None,
             workdir: Path | None = None, instance=None, log_level: str = "INFO",
             progress: ProgressHook = no_progress) -> DemoResult:
    """Generate the scenario, run the whole graph in process, and summarise what this run changed (a second
    run over the same store changes nothing). Dagster's and dbt's output, at ``log_level``, goes to
    ``WORKDIR/demo.log``; ``progress`` hears ``setup`` and then one ``step`` per step as it ends."""
    started = time.perf_counter()
    workdir = workdir or paths.VAR_DIR / "demo"
    landing = workdir / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    scenario = generate_scenario(landing, seed=seed)
    store_url = store_url or f"duckdb:///{paths.DEFAULT_STORE_PATH}"
    warehouse_path = warehouse_path or paths.DEFAULT_WAREHOUSE_PATH
    store = Store(store_url)
    log = workdir / "demo.log"
    log.unlink(missing_ok=True)

    settings = {"LEDGER_ENV": "local", "LEDGER_STORE_URL": store_url, "LEDGER_LANDING_DIR": str(landing),
                "LEDGER_WAREHOUSE_PATH": str(warehouse_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DAGSTER_TELEMETRY_DISABLED": "true"}
    with serve_sources(workdir) as api_settings, _environment({**settings, **api_settings}), \
            _output_to(log, progress) as relay:
        setup_chart(store)
        before = _store_summary(store)
        relay("setup", {"files": sum(len(f) for f in scenario.files.values()), "log": str(log)})
        from ledger_pipeline.definitions import defs as load_definitions

        definitions = load_definitions()
        job = definitions.resolve_job_def(MAIN_JOB)
        job = job.with_logger_defs({**job.loggers, "steps": _step_events(relay)})
        result = job.execute_in_process(instance=instance or _instance(), raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": log_level}},
                                                                "steps": {}}},
                                        tags={"ledger/demo_seed": str(seed)})

    evaluations = result.get_asset_check_evaluations()
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    materialized = {e.asset_key.to_user_string(): {k: _metadata_value(v) for k, v in e.materialization.metadata.items()}
                    for e in result.get_asset_materialization_events()}
    planned = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    summary = _changes(before, _store_summary(store))
    batch_lines = materialized.get("ledger/ledger_entries", {}).get("entry_batch_lines_this_run", 0)
    if batch_lines:
        summary["records"]["entries (journal batches)"] = int(batch_lines)

    out = DemoResult(
        success=result.success, seconds=0.0, store=store.redacted_url, warehouse=str(warehouse_path),
        landing=str(landing), log=str(log), dagster_run_id=result.run_id,
        records_ingested=summary["records"], transactions=summary["transactions"], entries=summary["entries"],
        quarantined=summary["quarantined"],
        checks={"total": len(evaluations), "passed": len(evaluations) - len(failed), "failed": failed},
        not_run=sorted(planned - set(materialized)),
        scenario=scenario.as_dict(),
    )
    for key, metadata in materialized.items():
        if key.startswith("recon/"):
            out.reconciliation[key] = metadata
        elif key.startswith("warehouse/"):
            out.warehouse_rows[key.split("/", 1)[1]] = int(metadata.get("rows_synced", metadata.get("dagster/row_count", 0)) or 0)
        elif key.startswith("reporting/"):
            out.reporting[key] = metadata.get("dagster/row_count")
    out.next_steps = [
        "make ui  (Dagster UI at http://127.0.0.1:3000: the asset graph, this run, every check)",
        "uv run ledger-pipeline quarantine list  (the refused records and why)",
        "uv run ledger-pipeline balances  (posted, pending and available balances)",
        f"{paths.relative_path(log)}  (Dagster's and dbt's log of this run)",
        (f"duckdb {paths.relative_path(warehouse_path)}  (" if shutil.which("duckdb")
         else f"{paths.relative_path(warehouse_path)}  (a DuckDB file: ")
        + "the synced warehouse tables and the dbt reports)",
    ]
    out.seconds = round(time.perf_counter() - started, 1)
    return out
