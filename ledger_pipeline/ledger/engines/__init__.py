"""One class per store engine (``DuckDBEngine``, ``PostgresEngine``), chosen once from the store URL.

URLs: ``duckdb:///path/to/file.duckdb`` (or a bare path ending in ``.duckdb``), ``duckdb:///:memory:``,
``postgresql://user@host:port/db`` (``postgres://`` and ``postgresql+psycopg://`` are accepted too).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_pipeline.ledger.engines.base import StoreEngine, in_scan_batches, quote_identifier

__all__ = ["StoreEngine", "StoreUrl", "engine_for", "in_scan_batches", "quote_identifier"]


#: a store that lives in this process only (nothing is written to disk)
IN_MEMORY_STORE_URL = "duckdb:///:memory:"

@dataclass(frozen=True)
class StoreUrl:
    dialect: str  # "duckdb" | "postgresql"
    target: str  # DuckDB file path (or ":memory:") / libpq conninfo URL

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        if url.startswith("duckdb:///"):
            # SQLAlchemy's convention: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb
            return cls("duckdb", url[len("duckdb:///") :] or ":memory:")
        if url.endswith(".duckdb") and "://" not in url:
            return cls("duckdb", url)
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return cls("postgresql", "postgresql://" + url[len(prefix) :])

        raise ValueError(f"unsupported store URL {url!r}: use duckdb:///path or postgresql://host/db")


def engine_for(url: str) -> StoreEngine:
    """The engine of the store at ``url``."""
    parsed = StoreUrl.parse(url)
    # each engine module imports its driver: a DuckDB user does not pay for importing psycopg, nor the reverse
    if parsed.dialect == "postgresql":
        from ledger_pipeline.ledger.engines.postgres import PostgresEngine

        return PostgresEngine(parsed.target, url)
    from ledger_pipeline.ledger.engines.duckdb import DuckDBEngine

    return DuckDBEngine(parsed.target, url)
