"""The base errors shared by the ledger core and the connectors.

``InputError`` is a ``LedgerError`` so that one ``except LedgerError`` in the CLI still catches input that
cannot be read, whether the core or a connector raised it.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class for every error the core raises."""


class InputError(LedgerError):
    """A file or record that cannot be read (bad format, missing column). CLI exit code 2."""
