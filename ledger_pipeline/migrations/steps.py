"""Small helpers the revisions share. A revision's DDL is frozen text or Alembic operations, never the
current metadata: the metadata moves on, a released revision does not.

A revision that creates tables keeps its frozen DDL beside its module, as the SQL it runs: ``<revision>.sql``
(both engines) and ``<revision>.postgres.sql`` (the indexes PostgreSQL gets and DuckDB's bulk-loaded tables go
without); its module is its revision ids and ``create_tables_revision``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import op
from sqlalchemy import text


def execute_script(sql: str) -> None:
    """Run ``;``-separated DDL statements (no parameters) one by one."""
    for statement in (s.strip() for s in sql.split(";")):
        if statement:
            op.execute(statement)


def on_postgres() -> bool:
    """The revision runs on PostgreSQL (which gets the indexes DuckDB's bulk-loaded tables go without)."""
    return op.get_bind().dialect.name == "postgresql"


def set_component_version(component: str, version: int) -> None:
    """Record a component's version in ``schema_info``, as stores made before Alembic revisions did."""
    op.execute(text("INSERT INTO schema_info (component, version) VALUES (:component, :version) "
                    "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version")
               .bindparams(component=component, version=version))


def create_tables(tables: str, postgres_indexes: str) -> None:
    """Run a revision's frozen ``CREATE TABLE`` script, and on PostgreSQL its frozen index script."""
    execute_script(tables)
    if on_postgres():
        execute_script(postgres_indexes)


def frozen_ddl(revision_file: str) -> tuple[str, str]:
    """The frozen ``CREATE TABLE`` script of the revision module at ``revision_file`` and its PostgreSQL index
    script ("" when it has none)."""
    module = Path(revision_file)
    postgres_indexes = module.with_suffix(".postgres.sql")
    return (module.with_suffix(".sql").read_text(encoding="utf-8"),
            postgres_indexes.read_text(encoding="utf-8") if postgres_indexes.exists() else "")


def create_tables_revision(revision_file: str, component: tuple[str, int] | None = None,
                           ) -> tuple[Callable[[], None], Callable[[], None]]:
    """``upgrade`` and ``downgrade`` of a revision that creates tables: ``upgrade`` runs the revision's frozen
    DDL (``frozen_ddl``) and, for a component released before Alembic revisions, records its version."""

    def upgrade() -> None:
        create_tables(*frozen_ddl(revision_file))
        if component is not None:
            set_component_version(*component)

    return upgrade, never_downgrade


def never_downgrade() -> None:
    """Every revision's ``downgrade``: a store is only ever upgraded."""
    raise NotImplementedError("the store's schema is only ever upgraded")
