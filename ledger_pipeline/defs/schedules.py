"""When jobs run on their own: the warehouse sync every 15 minutes (docs/design.md), reconciliation daily.

Times are UTC. Reconciliation runs at 07:00, after the banks' prior-day statements (BAI2 / camt.053) have
usually arrived; it can be run by hand at any time as well. The schedules are on by default in
``production``; in ``local`` they start stopped (turn them on in the UI), so that a laptop's embedded
DuckDB store is not written by a background run while a command of the CLI holds it.
"""

import dagster as dg

from ledger_pipeline.defs.jobs import reconciliation_job, warehouse_sync_job
from ledger_pipeline.defs.resources import pipeline_settings

WAREHOUSE_SYNC_CRON = "*/15 * * * *"
DAILY_RECONCILIATION_CRON = "0 7 * * *"


def build_schedules(running: bool) -> list[dg.ScheduleDefinition]:
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED

    def utc_schedule(name: str, job, cron: str, description: str) -> dg.ScheduleDefinition:
        return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone="UTC",
                                     default_status=status, description=description)

    return [
        utc_schedule("warehouse_sync_every_15_minutes", warehouse_sync_job, WAREHOUSE_SYNC_CRON,
                     "Push the ledger's changes to the warehouse and rebuild the reports, every 15 minutes."),
        utc_schedule("daily_reconciliation", reconciliation_job, DAILY_RECONCILIATION_CRON,
                     "Reconcile the ledger against the latest bank statements and processor payouts."),
    ]


@dg.definitions
def schedules() -> dg.Definitions:
    return dg.Definitions(schedules=build_schedules(running=pipeline_settings().environment == "production"))
