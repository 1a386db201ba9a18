"""Errors raised by connectors. Both subclass the shared ``ledger_common.errors.InputError``, so the CLI maps
them to exit code 2."""

from __future__ import annotations

from pathlib import Path

from ledger_common.errors import InputError


class SourceError(InputError):
    """A source system that could not be read (HTTP error after the last retry, bad response shape)."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class ParseError(InputError):
    """Input that cannot be parsed. ``str()`` names the file (or source) and the line or record.

    ``location`` is free text such as ``"line 12"`` or ``"record 3 (txn_123)"``; an int is read as a
    line number.
    """

    def __init__(self, path_or_source: str | Path, location: str | int | None, message: str):
        self.path = str(path_or_source)
        self.location = f"line {location}" if isinstance(location, int) else location
        self.message = message
        where = f"{self.path}, {self.location}" if self.location else self.path
        super().__init__(f"{where}: {message}")
