"""Upgrading a store to ``HEAD`` with Alembic, over a SQLAlchemy connection to the store's database.

DuckDB goes through ``duckdb-engine``'s dialect; Alembic has no DuckDB implementation of its own, so
``DuckDBImpl`` declares one (plain ANSI DDL with transactional DDL, which DuckDB has).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ledger_pipeline.ledger.schema import METADATA
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.migrations import VERSION_TABLE, StoreNotInitialised, revision_from_components


class DuckDBImpl(DefaultImpl):
    __dialect__ = "duckdb"
    transactional_ddl = True


@dataclass
class UpgradeResult:
    start: str  # the revision the store was at
    stamped: bool  # the store had no alembic_version: its revision came from schema_info
    applied: list[str] = field(default_factory=list)


@functools.cache
def script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return ScriptDirectory.from_config(config)


def sqlalchemy_engine(store: Store) -> sa.Engine:
    """An engine on the store's database (and, on PostgreSQL, its ``?schema=`` as the search path)."""
    if not store.engine.store_exists():
        raise StoreNotInitialised(f"{store.redacted_url} does not exist: run `ledger-pipeline init`")
    return store.engine.sqlalchemy_engine()


def _connect(store: Store, engine: sa.Engine) -> sa.Connection:
    try:
        return engine.connect()
    except sa.exc.OperationalError as exc:  # e.g. a database that does not exist
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise StoreNotInitialised(f"{store.redacted_url}: cannot connect: {reason}") from exc


def _component_versions(conn: sa.Connection) -> dict[str, int]:
    if not sa.inspect(conn).has_table("schema_info"):
        return {}
    return {c: int(v) for c, v in conn.execute(sa.text("SELECT component, version FROM schema_info"))}


def _refuse_what_revisions_cannot_convert(script: ScriptDirectory, conn: sa.Connection, current: str) -> None:
    """Before any revision runs, each pending revision that defines ``refuse_before_upgrade(conn)`` checks the
    store as it is and raises when it would convert it wrongly, so that nothing is changed. A check, not a
    step of the revision: a released revision keeps executing the statements it did."""
    pending = [r for r in script.iterate_revisions("head", current) if r.revision != current]
    for revision in reversed(pending):  # oldest first
        refuse = getattr(revision.module, "refuse_before_upgrade", None)
        if refuse is not None:
            refuse(conn)


def upgrade(store: Store) -> UpgradeResult:
    """Bring the store to ``HEAD`` in one transaction; a store already there is left as it is. A store that
    never ran ``init`` raises ``StoreNotInitialised``."""
    script = script_directory()
    engine = sqlalchemy_engine(store)
    try:
        with store.write_lock(), _connect(store, engine) as conn, conn.begin():
            context = MigrationContext.configure(conn)
            current = context.get_current_revision()
            stamped = current is None
            if stamped:
                current = revision_from_components(_component_versions(conn))
                if current is None:
                    raise StoreNotInitialised(f"{store.redacted_url} has no ledger store: run `ledger-pipeline init`")
                context.stamp(script, current)
            result = UpgradeResult(start=current, stamped=stamped)
            _refuse_what_revisions_cannot_convert(script, conn, current)

            def steps(revision, _context):
                return script._upgrade_revs("head", revision)

            with EnvironmentContext(Config(), script, fn=steps, destination_rev="head") as env:
                env.configure(connection=conn, target_metadata=METADATA, version_table=VERSION_TABLE,
                              on_version_apply=lambda *, step, **_: result.applied.append(step.up_revision_id))
                env.run_migrations()
    finally:
        engine.dispose()
    return result
