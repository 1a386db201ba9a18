"""The ``ledger-pipeline`` command line, one module per command group: ``ledger`` (init, post, balances,
transactions, accounts, export-csv), ``quarantine``, ``ingest`` (ingest, ingest-replay, parse),
``reconcile``, ``warehouse`` (sync) and ``demo``; ``support`` holds the options, output and error boundary
they share, and ``main`` the application. The domain packages know nothing of it.
"""

from ledger_pipeline.cli.main import app, main

__all__ = ["app", "main"]
