"""Sensors: files dropped in the landing folder start an ingest run; a failed run records an alert.

Landing folder layout: ``<landing>/<source>/<file>`` (``stripe/``, ``adyen/``, ``bank/``, ``entries/`` ...).
The sensor remembers each file's size and modification time in its cursor, so a new or rewritten file
starts one run (its ``run_key`` names the files), and a file being copied in is picked up once it has
stopped changing. Ingestion is idempotent, so a file seen twice adds nothing. The run materializes the raw
assets of the sources whose files arrived and the ledger after them (not the sources pulled by API, which
run on their own schedules).

Alerts: a failed run of any job of this code location appends a ``pipeline.run_failed`` row to the store's
``events`` table (synced to the warehouse with the ledger, where BI and on-call tooling read it), with the
job, the run id, the failed steps and the error.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from ledger_pipeline.defs.ingest.assets import raw_key, source_streams
from ledger_pipeline.defs.ledger.assets import LEDGER_TABLES, ledger_key
from ledger_pipeline.defs.resources import LandingFolderResource, LedgerStoreResource, pipeline_settings
from ledger_pipeline.ledger.events import record_event
from ledger_pipeline.store_setup import initialize_store

IGNORED_FOLDERS = frozenset({"posted", "processed", "failed"})
#: a file modified more recently than this is still being written; wait for the next tick
SETTLE_SECONDS = 2.0


def landed_files(landing: Path) -> dict[str, str]:
    """``relative path -> "size:mtime_ns"`` of every file waiting in the landing folder."""
    if not landing.is_dir():
        return {}
    found = {}
    for path in sorted(landing.rglob("*")):
        relative = path.relative_to(landing)
        if not path.is_file() or path.name.startswith(".") or IGNORED_FOLDERS.intersection(relative.parts[:-1]):
            continue
        stat = path.stat()
        found[relative.as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


def assets_for(files: list[str]) -> list[dg.AssetKey]:
    """The raw assets of the file sources that are on and have new files, then the ledger's."""
    sources = pipeline_settings().sources
    keys = [raw_key(name, stream) for name in sorted({f.split("/", 1)[0] for f in files})
            if name in sources and sources[name].files_on() for stream in source_streams(sources[name])]
    return keys + [ledger_key(t) for t in LEDGER_TABLES]


def new_files(seen: dict[str, str], current: dict[str, str], now_ns: int) -> list[str]:
    settled_before = now_ns - int(SETTLE_SECONDS * 1e9)
    return [name for name, stamp in current.items()
            if seen.get(name) != stamp and int(stamp.split(":")[1]) <= settled_before]


@dg.sensor(job_name="ingest_job", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts an ingest run when files are dropped in the landing folder.")
def landing_folder_sensor(context: dg.SensorEvaluationContext, landing: LandingFolderResource):
    import time

    seen = json.loads(context.cursor) if context.cursor else {}
    current = landed_files(landing.folder())
    fresh = new_files(seen, current, time.time_ns())
    if not fresh:
        return dg.SkipReason(f"no new files in {landing.folder()}")
    # files still settling keep their old stamp (or none), so the next tick picks them up
    remembered = {name: current[name] if name in fresh else seen[name] for name in current
                  if name in fresh or name in seen}
    run_key = hashlib.sha256(json.dumps({n: current[n] for n in fresh}, sort_keys=True).encode()).hexdigest()[:32]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=run_key, asset_selection=assets_for(fresh),
                                    tags={"ledger/landed_files": ", ".join(fresh)[:1000]})],
        cursor=json.dumps(remembered, sort_keys=True),
    )


@dg.run_failure_sensor(name="record_run_failure_alert", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records a failed run as a pipeline.run_failed event in the ledger store.")
def record_run_failure_alert(context: dg.RunFailureSensorContext, ledger_store: LedgerStoreResource):
    run = context.dagster_run
    failure = context.failure_event
    steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    store = ledger_store.store()
    initialize_store(store)
    with store.transaction() as conn:
        record_event(conn, "pipeline.run_failed", "dagster_run", run.run_id, {
            "job": run.job_name,
            "failed_steps": steps,
            "message": failure.message if failure else None,
            "tags": {k: v for k, v in run.tags.items() if not k.startswith(".dagster")},
        })
    context.log.info(f"alert recorded for failed run {run.run_id} of {run.job_name}")
