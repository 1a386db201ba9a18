"""Jobs, by the layers they materialize (asset groups = layers, so a new asset joins its job by its group).

* ``ingest_job``: raw landing and the ledger (mapping, validation, posting, quarantine) with its checks;
* ``reconciliation_job``: reconciliation against bank statements and processors;
* ``warehouse_sync_job``: the warehouse sync and the dbt reporting models built on it;
* ``ledger_pipeline_job``: the whole graph, in dependency order (what ``ledger-pipeline demo`` runs).

Checks run with the assets they check; blocking ones stop everything downstream in the same run.
"""

import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.groups("raw", "ledger"),
    description="Land source records and post them to the ledger (refusals go to quarantine).",
)
reconciliation_job = dg.define_asset_job(
    "reconciliation_job", selection=dg.AssetSelection.groups("recon"),
    description="Reconcile the ledger with bank statements and processor payouts.",
)
warehouse_sync_job = dg.define_asset_job(
    "warehouse_sync_job", selection=dg.AssetSelection.groups("warehouse", "reporting"),
    description="Push what changed in the ledger to the warehouse, then rebuild the dbt reporting models.",
)
ledger_pipeline_job = dg.define_asset_job(
    "ledger_pipeline_job", selection=dg.AssetSelection.all(),
    description="The whole graph: ingest, ledger, reconciliation, warehouse sync, reporting.",
)
