"""Versioned schema migrations of the store (Alembic), configured in code: no ``alembic.ini``.

Revisions live in ``versions/``: ``0001`` is the first schema the project released (the core ledger), each
later one a change released since. A store records its revision in Alembic's ``alembic_version`` table.
Stores made before that recorded each component's version in ``schema_info`` only: ``revision_from_components``
maps those to the revision they equal, so ``ledger-pipeline migrate`` stamps it and upgrades from there.

``initialize_store`` creates a new store from the current metadata and stamps ``HEAD`` directly (Alembic
is imported only when a store is behind: ``ledger_pipeline.migrations.upgrade``).
"""

from __future__ import annotations

from collections.abc import Mapping

HEAD = "0010"  # the newest revision in versions/ (tests check that Alembic agrees)

VERSION_TABLE = "alembic_version"
VERSION_TABLE_DDL = (f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                     f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))")  # as Alembic creates it


class StoreNotInitialised(Exception):
    """The store does not exist, or has neither ``alembic_version`` nor ``schema_info`` (never initialised)."""


def revision_from_components(versions: Mapping[str, int]) -> str | None:
    """The revision a store made before Alembic is at, from its ``schema_info`` rows (None: not a store)."""
    if "reconcile" in versions:
        return {1: "0003", 2: "0004", 3: "0005"}.get(versions["reconcile"], HEAD)
    if "ingest" in versions:
        return "0002"
    if "core" in versions:
        return "0001"
    return None
