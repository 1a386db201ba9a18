"""Push to warehouse: the incremental, exactly-once sync of the ledger to PostgreSQL, Redshift, BigQuery,
Snowflake or a local DuckDB file. See docs/warehouse.md for the destination tables (the dbt contract)."""

from ledger_pipeline.warehouse.base import DestinationUnavailable
from ledger_pipeline.warehouse.config import ConfigError, TargetConfig, load_targets
from ledger_pipeline.warehouse.engine import SyncResult, TableSync, create_destination, sync_target
from ledger_pipeline.warehouse.tables import EXPORT_TABLES, ExportTable

__all__ = [
    "EXPORT_TABLES", "ConfigError", "DestinationUnavailable", "ExportTable", "SyncResult", "TableSync",
    "TargetConfig", "create_destination", "load_targets", "sync_target",
]
