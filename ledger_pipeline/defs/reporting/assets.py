"""The dbt models as assets. ``dbt build`` runs models, their data tests (shown as asset checks) and the
unit tests, in the warehouse the profile points at (``dbt_project/profiles.yml``: the local DuckDB file by
default; ``LEDGER_DBT_TARGET`` picks another). It runs in the jobs that select the ``reporting`` group
(``warehouse_sync_job`` runs it right after the sync).

DuckDB takes one writing process per file: the sync step closes its connection before this step starts
(jobs run in process, one step at a time), and dbt opens the file only while it builds.
"""

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from ledger_pipeline.defs.reporting.project import ReportingDbtCliResource, prepared_reporting_project
from ledger_pipeline.defs.reporting.translator import ReportingTranslator

TRANSLATOR = ReportingTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def build_reporting_assets(project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=TRANSLATOR,
        name="reporting_dbt_models",
    )
    def reporting_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    return reporting_dbt_models


@dg.definitions
def reporting() -> dg.Definitions:
    project = prepared_reporting_project()
    return dg.Definitions(
        assets=[build_reporting_assets(project)],
        resources={"dbt": ReportingDbtCliResource(project_dir=project)},
    )
