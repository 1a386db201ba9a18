"""Creating every table the product needs in a store (``ledger-pipeline init``), or bringing an older store
to the current schema. Idempotent.

A new store is created from the one metadata (``ledger_pipeline.ledger.schema.METADATA``, to which the
ingest and reconciliation packages add their tables), rendered to DDL by SQLAlchemy for the store's
engine, and stamped with the newest migration revision: creating it through Alembic's revisions would cost
every new store the import and replay of all of them. A store behind that revision is upgraded by
``ledger_pipeline.migrations.upgrade``. What metadata does not express (the ``recon_match_items`` view, the
``try_timestamptz`` helper function) is explicit DDL, run here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateSequence, CreateTable

import ledger_pipeline.api.schema  # noqa: F401 - registers the API tables in the metadata
import ledger_pipeline.ingest.schema as ingest_schema
import ledger_pipeline.ledger.schema as core_schema
import ledger_pipeline.reconcile.schema as reconcile_schema
from ledger_pipeline.ledger.accounts import ensure_ledger
from ledger_pipeline.ledger.staging import create_helper_functions
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.migrations import HEAD, VERSION_TABLE, VERSION_TABLE_DDL

if TYPE_CHECKING:
    from ledger_pipeline.migrations.upgrade import UpgradeResult

COMPONENT_VERSIONS = {"core": core_schema.SCHEMA_VERSION, "ingest": ingest_schema.SCHEMA_VERSION,
                      "reconcile": reconcile_schema.SCHEMA_VERSION}


def initialize_store(store: Store, default_ledger: str | None = "main") -> None:
    """Create the schema (or upgrade an older store's) and the default ledger."""
    with store.transaction() as conn:
        revision = store_revision(conn)
        if revision == "":
            create_schema(conn)
            revision = HEAD
        if revision == HEAD:
            _finish(conn, default_ledger)
            return
    # Alembic and duckdb-engine are imported only for a store that is behind (their import costs more than
    # creating a store).
    from ledger_pipeline.migrations.upgrade import upgrade

    upgrade(store)
    with store.transaction() as conn:
        _finish(conn, default_ledger)


def migrate_store(store: Store) -> UpgradeResult:
    """Upgrade an existing store in place to ``HEAD`` (``ledger-pipeline migrate``); its helper functions
    are created again. Raises ``StoreNotInitialised`` for a store that never ran ``init``."""
    from ledger_pipeline.migrations.upgrade import upgrade

    result = upgrade(store)
    with store.transaction() as conn:
        create_helper_functions(conn)
    return result


def _finish(conn: Connection, default_ledger: str | None) -> None:
    create_helper_functions(conn)
    if default_ledger:
        ensure_ledger(conn, default_ledger, description="Default ledger")


def store_revision(conn: Connection) -> str | None:
    """The store's migration revision; ``""`` for a store without tables, None for one made before revisions
    were recorded (it has ``schema_info`` only)."""
    found = {name for (name,) in conn.all(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name IN (:version_table, 'schema_info')", {"version_table": VERSION_TABLE})}
    if VERSION_TABLE in found:
        return conn.scalar(f"SELECT max(version_num) FROM {VERSION_TABLE}")
    return None if found else ""


@functools.cache
def schema_ddl(dialect_name: str) -> tuple[str, ...]:
    """The statements that create the whole schema at ``HEAD`` on an engine.

    DuckDB's DDL is rendered by SQLAlchemy's PostgreSQL dialect: ``duckdb-engine``'s dialect derives from
    it and renders every statement here identically, and the PostgreSQL one costs no extra import. Indexes
    declared for one engine only (``postgres_index``) are rendered for that engine only.
    """
    dialect = postgresql.dialect()
    metadata = core_schema.METADATA
    statements = [str(CreateSequence(core_schema.LEDGER_CHANGE_SEQ, if_not_exists=True).compile(dialect=dialect))]
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        statements += [str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
                       for index in sorted(table.indexes, key=lambda i: i.name)
                       if index.info.get("only_on", dialect_name) == dialect_name]
    statements.append(reconcile_schema.MATCH_ITEMS_VIEW)
    statements.append(VERSION_TABLE_DDL)
    return tuple(s.strip() for s in statements)


def create_schema(conn: Connection) -> None:
    """Create every table, index and view at ``HEAD`` in an empty store, and record its versions."""
    for statement in schema_ddl(conn.engine.name):
        conn.execute(statement)
    for component, version in COMPONENT_VERSIONS.items():
        conn.execute("INSERT INTO schema_info (component, version) VALUES (:c, :v) ON CONFLICT (component) "
                     "DO NOTHING", {"c": component, "v": version})
    conn.execute(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v) ON CONFLICT (version_num) DO NOTHING",
                 {"v": HEAD})
