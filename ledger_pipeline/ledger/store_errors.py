"""What a store driver's error means for whoever runs a command: the store cannot be reached or is locked
(:class:`StoreUnavailable`), or it was never initialised (:class:`StoreNotInitialised`).

The drivers are not imported here: an error can only come from a driver that is already loaded, so
:func:`classify` looks them up in ``sys.modules``.
"""

from __future__ import annotations

import sys


class StoreError(Exception):
    """A store that cannot serve the command; ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if "ledger-pipeline init" in self.message else f"{self.message}; {self.hint}"


class StoreUnavailable(StoreError):
    """The server is down or refuses the connection, or another process holds the DuckDB file's lock."""


class StoreNotInitialised(StoreError):
    """The store has no ledger tables (or its PostgreSQL schema does not exist)."""


INIT_HINT = "run `ledger-pipeline init` first"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def classify(exc: BaseException) -> StoreUnavailable | StoreNotInitialised | None:
    """The store error ``exc`` stands for, or None when it is not one."""
    if isinstance(exc, StoreUnavailable | StoreNotInitialised):
        return exc
    migrations = sys.modules.get("ledger_pipeline.migrations")
    if migrations is not None and isinstance(exc, migrations.StoreNotInitialised):
        return StoreNotInitialised(_first_line(exc), INIT_HINT)
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None:
        if isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc):
            return StoreUnavailable(f"the store is locked by another process ({_first_line(exc)})",
                                    "wait for the other writer to finish and try again")
        if isinstance(exc, duckdb.CatalogException):
            return StoreNotInitialised(f"the store has no ledger tables ({_first_line(exc)})", INIT_HINT)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors = psycopg.errors
        if isinstance(exc, errors.InvalidSchemaName):
            return StoreNotInitialised(f"the store's schema does not exist ({_first_line(exc)})",
                                       "create it (CREATE SCHEMA) and run `ledger-pipeline init`")
        if isinstance(exc, errors.UndefinedTable | errors.UndefinedObject):
            return StoreNotInitialised(f"the store has no ledger tables ({_first_line(exc)})", INIT_HINT)
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailable(f"cannot connect to the store ({_first_line(exc)})",
                                    "start the server, or check the URL given with --store or LEDGER_STORE_URL")
    return None
