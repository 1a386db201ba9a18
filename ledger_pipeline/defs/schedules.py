"""When jobs run on their own: each API source on its own schedule (every 15 minutes unless ``sources.yaml``
says otherwise), the warehouse sync every 15 minutes five minutes after the sources' ticks (docs/design.md),
reconciliation daily. File sources are started by the landing-folder sensor (``sensors.py``).

Each API source has its own job (``ingest_<source>_job``, its ``raw/<source>__*`` assets) and schedule
(``ingest_<source>_schedule``), so one source that fails or hangs does not hold back the others' ticks.

Times are UTC. Reconciliation runs at 07:00, after the banks' prior-day statements (BAI2 / camt.053) have
usually arrived; it can be run by hand at any time as well. The schedules are on by default in
``production``; in ``local`` they start stopped (turn them on in the UI), so that a laptop's embedded
DuckDB store is not written by a background run while a command of the CLI holds it.
"""

from collections.abc import Mapping

import dagster as dg

from ledger_pipeline.defs.ingest.assets import raw_key, source_streams
from ledger_pipeline.defs.ingest.config import SourceSettings
from ledger_pipeline.defs.jobs import reconciliation_job, warehouse_sync_job
from ledger_pipeline.defs.resources import pipeline_settings

#: every 15 minutes, 5 minutes after the sources' default ticks (``*/15``), so it carries what they posted
WAREHOUSE_SYNC_CRON = "5-59/15 * * * *"
DAILY_RECONCILIATION_CRON = "0 7 * * *"


def build_schedules(running: bool, sources: Mapping[str, SourceSettings] | None = None) -> list[dg.ScheduleDefinition]:
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED

    def utc_schedule(name: str, job, cron: str, description: str) -> dg.ScheduleDefinition:
        return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone="UTC",
                                     default_status=status, description=description)

    per_source = []
    for settings in (sources or {}).values():
        if not settings.api_on():
            continue
        job = dg.define_asset_job(
            f"ingest_{settings.name}_job",
            selection=dg.AssetSelection.assets(*(raw_key(settings.name, s) for s in source_streams(settings))),
            description=f"Pull {settings.name} from its API (and its landing-folder files), land, map and post.")
        per_source.append(utc_schedule(f"ingest_{settings.name}_schedule", job, settings.schedule,
                                       f"Pull {settings.name} from its API on {settings.schedule} (UTC)."))
    return [
        *per_source,
        utc_schedule("warehouse_sync_every_15_minutes", warehouse_sync_job, WAREHOUSE_SYNC_CRON,
                     "Push the ledger's changes to the warehouse and rebuild the reports, every 15 minutes."),
        utc_schedule("daily_reconciliation", reconciliation_job, DAILY_RECONCILIATION_CRON,
                     "Reconcile the ledger against the latest bank statements and processor payouts."),
    ]


@dg.definitions
def schedules() -> dg.Definitions:
    settings = pipeline_settings()
    return dg.Definitions(schedules=build_schedules(running=settings.environment == "production",
                                                    sources=settings.sources))
