"""The warehouse layer: one sync step writes every ``warehouse/<table>`` (``warehouse.EXPORT_TABLES``).

The step calls the warehouse package's ``sync_target``: only what changed since the destination's
acknowledged position moves, merged by primary key, the position recorded with it; a run that dies is
simply run again. It is one multi-asset because one sync moves all tables up to one store watermark.
The dbt sources of ``defs/reporting`` are these same keys, so the reports build after the sync.

Freshness: each warehouse table has a freshness check that fails when its last sync is more than
``STALE_AFTER`` old (the sync runs every 15 minutes, so two missed ticks); a sensor evaluates them.
"""

from datetime import timedelta

import dagster as dg

from ledger_pipeline.defs.ledger.assets import LEDGER_TABLES
from ledger_pipeline.defs.resources import (
    LedgerStoreResource,
    PipelineSettings,
    WarehouseResource,
    pipeline_settings,
)
from ledger_pipeline.warehouse import EXPORT_TABLES, sync_target
from ledger_pipeline.warehouse.config import ConfigError, TargetConfig, load_targets

STALE_AFTER = timedelta(minutes=30)


def warehouse_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table])


def upstream_of(table: str) -> dg.AssetKey:
    """The asset that writes the store table a warehouse table mirrors (reference data such as ledgers,
    accounts and events is written while posting)."""
    if table.startswith("recon_"):
        return dg.AssetKey(["recon", table])
    if table in LEDGER_TABLES:
        return dg.AssetKey(["ledger", table])
    return dg.AssetKey(["ledger", "ledger_transactions"])


def target_config(warehouse: WarehouseResource) -> TargetConfig:
    if warehouse.targets_file is None and warehouse.target == "local":
        return TargetConfig("local", "duckdb", {"path": warehouse.duckdb_path})
    return load_targets(warehouse.targets_file)[warehouse.target]


def target_kind(settings: PipelineSettings) -> str:
    """The destination's type (``duckdb``, ``postgres``, ``snowflake``...), read from the targets file
    without resolving its secrets; the target's name when the file cannot be read at load time."""
    if settings.warehouse_targets_file is None and settings.warehouse_target == "local":
        return "duckdb"
    try:
        return load_targets(settings.warehouse_targets_file)[settings.warehouse_target].type
    except (ConfigError, KeyError, OSError):
        return settings.warehouse_target


def build_warehouse_sync(settings: PipelineSettings) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[dg.AssetSpec(warehouse_key(t.name), group_name="warehouse", deps=[upstream_of(t.name)],
                            kinds={target_kind(settings)}, owners=list(settings.owners),
                            description=f"Warehouse copy of the store's {t.name} (primary key "
                                        f"{', '.join(t.primary_key)}), with _version and _synced_at.")
               for t in EXPORT_TABLES],
        can_subset=False,
        name="warehouse_sync",
    )
    def warehouse_sync(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                       warehouse: WarehouseResource):
        yield from sync_warehouse(context, ledger_store, warehouse)

    return warehouse_sync


def sync_warehouse(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                   warehouse: WarehouseResource):
    """Push what changed in the ledger store to the warehouse target."""
    target = target_config(warehouse)
    result = sync_target(ledger_store.store(), target)
    context.log.info(f"synced {result.total_rows} rows to {target.name} ({target.type}) in {result.duration_s:.2f} s")
    positions = result.positions
    for table in EXPORT_TABLES:
        start, end = positions.get(table.name, (None, None))
        yield dg.MaterializeResult(asset_key=warehouse_key(table.name), metadata={
            "rows_synced": result.rows.get(table.name, 0),
            "target": f"{target.name} ({target.type})",
            "from_position": start if start is not None else -1,
            "to_position": end if end is not None else -1,
            "skipped": table.name in result.skipped_tables,
            "sync_seconds": round(result.duration_s, 3),
        })


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return list(dg.build_last_update_freshness_checks(
        assets=[warehouse_key(t.name) for t in EXPORT_TABLES], lower_bound_delta=STALE_AFTER))


@dg.definitions
def warehouse_assets() -> dg.Definitions:
    checks = freshness_checks()
    sensor = dg.build_sensor_for_freshness_checks(freshness_checks=checks, name="warehouse_freshness_checks",
                                                  default_status=dg.DefaultSensorStatus.RUNNING)
    return dg.Definitions(assets=[build_warehouse_sync(pipeline_settings())], asset_checks=checks, sensors=[sensor])
