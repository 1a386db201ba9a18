"""The dbt project as dagster-dbt sees it, and the preparation that makes its manifest exist.

dagster-dbt builds the asset graph from ``target/manifest.json``, which ``dbt parse`` writes. The stock
preparer parses only under ``dagster dev``; a fresh checkout, ``dagster definitions validate``, a test or
a deployed code server would then find no manifest (or a stale one). ``ParseWhenStalePreparer`` runs
``dbt parse`` whenever the manifest is missing or older than any file of the project, so the manifest is
always the project's, and costs nothing when it is current.

``ReportingDbtCliResource`` is dagster-dbt's ``DbtCliResource`` knowing the version of the ``dbt`` installed
beside this interpreter from its package metadata: the stock resource runs ``dbt --version`` (a Python
process importing dbt, seconds of CPU) before every dbt command of every run, to learn the same number.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import sys
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer
from packaging import version

from ledger_pipeline import paths

_PROJECT_FILE_SUFFIXES = (".sql", ".yml", ".yaml", ".md", ".csv")
_SKIPPED_DIRS = ("target", "logs", "dbt_packages")


def _newest_project_file(project_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS]
        for name in files:
            if name.endswith(_PROJECT_FILE_SUFFIXES):
                newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_project_file(project.project_dir)


@functools.cache
def _installed_dbt_version(executable: str) -> version.Version | None:
    """The version of dbt-core when ``executable`` is the ``dbt`` script of this interpreter's environment
    (the one ``dbt_on_path`` makes found), None for any other dbt (another install, dbt Fusion)."""
    found = shutil.which(executable)
    if found is None or Path(found).parent != Path(sys.executable).parent or Path(found).name != "dbt":
        return None
    try:
        return version.parse(importlib.metadata.version("dbt-core"))
    except importlib.metadata.PackageNotFoundError:
        return None


class ReportingDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that reads the version of this environment's dbt from its package metadata
    instead of running ``dbt --version`` before each command; any other dbt is asked as usual."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return _installed_dbt_version(self.dbt_executable) or super()._cli_version


class ParseWhenStalePreparer(DagsterDbtProjectPreparer):
    """``dbt parse`` before the manifest is loaded, whenever the manifest is missing or out of date."""

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev() or manifest_is_stale(project):
            self.prepare(project)

    def _prepare_manifest(self, project: DbtProject) -> None:
        # the stock preparer's parse (dagster_dbt.dbt_project), through ReportingDbtCliResource
        ReportingDbtCliResource(project_dir=project).cli(self._prepare_project_cli_args,
                                                         target_path=project.target_path).wait()
        self._invalidate_seeds_in_partial_parse(project)


def reporting_project() -> DbtProject:
    """The project in ``dbt_project/`` with its own ``profiles.yml``."""
    return DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


def dbt_on_path() -> None:
    """Make sure ``dbt`` is found: it is installed next to this interpreter, and a console script of a
    virtual environment run by its path without activating it (``.venv/bin/ledger-pipeline demo``) has
    that folder missing from ``PATH``, where dagster-dbt looks. Added only when ``dbt`` is not found."""
    scripts = Path(sys.executable).parent
    if shutil.which("dbt") is None and (scripts / "dbt").exists():
        os.environ["PATH"] = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])


def prepared_reporting_project() -> DbtProject:
    """The project, with a manifest that matches its files (``dbt parse`` runs first if needed)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    dbt_on_path()
    project = reporting_project()
    ParseWhenStalePreparer().prepare_if_dev(project)
    return project
