"""Resources, configured from one environment switch read here and nowhere else.

``LEDGER_ENV`` chooses the environment:

* ``local`` (the default): the embedded store (a DuckDB file under ``var/``, or ``LEDGER_STORE_URL``),
  the local DuckDB warehouse file, the landing folder under ``var/``;
* ``production``: the store URL comes from ``LEDGER_STORE_URL`` through ``dg.EnvVar`` (it may hold a
  password, so it is resolved when a run starts, never at import and never logged), the warehouse target
  is ``LEDGER_WAREHOUSE_TARGET`` in the targets file ``LEDGER_WAREHOUSE_CONFIG`` (whose secrets are
  ``${ENV}`` references resolved by the warehouse package).

The environment is read when the code location loads its definitions (``pipeline_settings``), not when
this module is imported. Every job runs with Dagster's in-process executor: the embedded DuckDB store
takes one writing process at a time, and past one machine the scale-out is Dagster's own (run launchers
on Kubernetes or Celery), not a home-made executor.
"""


import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ledger_pipeline import paths
from ledger_pipeline.defs.ingest.config import SourceSettings, load_sources
from ledger_pipeline.ledger.store import ENV_STORE_URL, Store

ENV_SWITCH = "LEDGER_ENV"
ENVIRONMENTS = ("local", "production")
#: who answers for the assets (Dagster ``owners``); ``LEDGER_ASSET_OWNERS`` (comma-separated) replaces it
DEFAULT_OWNERS = ("team:ledger",)


class LedgerStoreResource(dg.ConfigurableResource):
    """The ledger store: ``duckdb:///path`` (embedded) or ``postgresql://...``."""

    url: str

    def store(self) -> Store:
        return Store(self.url)


class WarehouseResource(dg.ConfigurableResource):
    """Where the ledger is synced to: a named target of a targets file, or the local DuckDB file."""

    target: str = "local"
    targets_file: str | None = None
    duckdb_path: str = str(paths.DEFAULT_WAREHOUSE_PATH)


class LandingFolderResource(dg.ConfigurableResource):
    """The folder files are dropped into (one sub-folder per source); watched by a sensor."""

    path: str

    def folder(self) -> Path:
        return Path(self.path)


class ReconciliationSettings(dg.ConfigurableResource):
    """How far a linked account's ledger balance may differ from the bank's before a check fails."""

    variance_tolerance_minor: int = 0
    match_window_days: int = 3


@dataclass(frozen=True)
class PipelineSettings:
    environment: str
    store_url: str | dg.EnvVar
    warehouse_target: str
    warehouse_targets_file: str | None
    warehouse_duckdb_path: str
    landing_dir: str
    variance_tolerance_minor: int
    sources: Mapping[str, SourceSettings]
    owners: tuple[str, ...] = DEFAULT_OWNERS

    def store_kind(self) -> str:
        """``duckdb`` or ``postgres``: the store's engine, read from the URL's scheme only (the URL may hold
        a password and is not kept)."""
        url = (self.store_url.get_value() or "") if isinstance(self.store_url, dg.EnvVar) else self.store_url
        return "postgres" if url.startswith("postgres") else "duckdb"


def pipeline_settings(environ: Mapping[str, str] | None = None) -> PipelineSettings:
    """Read the environment switch (and the few settings it governs). The one place that reads them."""
    env = os.environ if environ is None else environ
    environment = env.get(ENV_SWITCH, "local").strip().lower() or "local"
    if environment not in ENVIRONMENTS:
        raise ValueError(f"{ENV_SWITCH}={environment!r}: expected one of {', '.join(ENVIRONMENTS)}")
    tolerance = int(env.get("LEDGER_RECON_TOLERANCE_MINOR", "0"))
    landing = env.get("LEDGER_LANDING_DIR") or str(paths.LANDING_DIR)
    common = {"sources": load_sources(env),
              "owners": tuple(o.strip() for o in env.get("LEDGER_ASSET_OWNERS", "").split(",") if o.strip())
              or DEFAULT_OWNERS}
    if environment == "production":
        return PipelineSettings(
            environment=environment,
            store_url=dg.EnvVar(ENV_STORE_URL),
            warehouse_target=env.get("LEDGER_WAREHOUSE_TARGET", "postgres"),
            warehouse_targets_file=env.get("LEDGER_WAREHOUSE_CONFIG", str(paths.PROJECT_ROOT / "warehouse.yaml")),
            warehouse_duckdb_path=str(paths.DEFAULT_WAREHOUSE_PATH),
            landing_dir=landing,
            variance_tolerance_minor=tolerance,
            **common,
        )
    return PipelineSettings(
        environment=environment,
        store_url=env.get(ENV_STORE_URL) or f"duckdb:///{paths.DEFAULT_STORE_PATH}",
        warehouse_target=env.get("LEDGER_WAREHOUSE_TARGET", "local"),
        warehouse_targets_file=env.get("LEDGER_WAREHOUSE_CONFIG"),
        warehouse_duckdb_path=env.get("LEDGER_WAREHOUSE_PATH") or str(paths.DEFAULT_WAREHOUSE_PATH),
        landing_dir=landing,
        variance_tolerance_minor=tolerance,
        **common,
    )


def pipeline_resources(settings: PipelineSettings) -> dict[str, dg.ConfigurableResource]:
    """The resources of every job, by key (asset functions name them as parameters)."""
    return {
        "ledger_store": LedgerStoreResource(url=settings.store_url),
        "warehouse": WarehouseResource(
            target=settings.warehouse_target,
            targets_file=settings.warehouse_targets_file,
            duckdb_path=settings.warehouse_duckdb_path,
        ),
        "landing": LandingFolderResource(path=settings.landing_dir),
        "reconciliation": ReconciliationSettings(variance_tolerance_minor=settings.variance_tolerance_minor),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=pipeline_resources(pipeline_settings()), executor=dg.in_process_executor)
