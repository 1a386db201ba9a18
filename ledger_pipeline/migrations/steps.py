"""Small helpers the revisions share. A revision's DDL is frozen text or Alembic operations, never the
current metadata: the metadata moves on, a released revision does not."""

from __future__ import annotations

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


def never_downgrade() -> None:
    """Every revision's ``downgrade``: a store is only ever upgraded."""
    raise NotImplementedError("the store's schema is only ever upgraded")
