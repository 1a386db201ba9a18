"""Creating every table the product needs in a store (``ledger-pipeline init``). Idempotent."""

from __future__ import annotations

from ledger_pipeline.ledger.schema import create_core_schema
from ledger_pipeline.ledger.staging import create_helper_functions
from ledger_pipeline.ledger.store import Store


def initialize_store(store: Store, default_ledger: str | None = "main") -> None:
    """Create the core schema (and the schemas of the other packages that have one) and the default ledger."""
    from ledger_pipeline.ledger.accounts import ensure_ledger

    with store.transaction() as conn:
        create_core_schema(conn)
        create_helper_functions(conn)
        for create in _component_schemas():
            create(conn)
        if default_ledger:
            ensure_ledger(conn, default_ledger, description="Default ledger")


def _component_schemas():
    """Schemas of components outside the core, in dependency order. Each is ``create(conn)``."""
    from ledger_pipeline.ingest.schema import create_ingest_schema
    from ledger_pipeline.reconcile.schema import create_reconcile_schema

    return (create_ingest_schema, create_reconcile_schema)
