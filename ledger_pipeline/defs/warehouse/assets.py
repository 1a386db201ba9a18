"""The warehouse layer: one sync step writes every ``warehouse/<table>`` (``warehouse.EXPORT_TABLES``).

The step calls the warehouse package's ``sync_target``: only what changed since the destination's
acknowledged position moves, merged by primary key, the position recorded with it; a run that dies is
simply run again. It is one multi-asset because one sync moves all tables up to one store watermark.
The dbt sources of ``defs/reporting`` are these same keys, so the reports build after the sync.
"""

import dagster as dg

from ledger_pipeline.defs.ledger.assets import LEDGER_TABLES
from ledger_pipeline.defs.resources import LedgerStoreResource, WarehouseResource
from ledger_pipeline.warehouse import EXPORT_TABLES, sync_target
from ledger_pipeline.warehouse.config import TargetConfig, load_targets


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


@dg.multi_asset(
    specs=[dg.AssetSpec(warehouse_key(t.name), group_name="warehouse", deps=[upstream_of(t.name)],
                        description=f"Warehouse copy of the store's {t.name} (primary key {', '.join(t.primary_key)}), "
                                    "with _version and _synced_at.")
           for t in EXPORT_TABLES],
    can_subset=False,
    name="warehouse_sync",
)
def warehouse_sync(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
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
