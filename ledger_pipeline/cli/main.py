"""The ``ledger-pipeline`` application: one entry point for the ledger and the pipeline around it.

Each command group's module adds its commands through ``register(app)``; the order below is the order of
``ledger-pipeline --help``.
"""

from __future__ import annotations

import typer

from ledger_pipeline.cli import api, demo, ingest, ledger, quarantine, reconcile, warehouse
from ledger_pipeline.cli.support import EXIT_BAD_INPUT

app = typer.Typer(
    name="ledger-pipeline",
    help="A double-entry ledger database and data pipeline (Modern Treasury's ledger model).",
    no_args_is_help=True,
    add_completion=False,
)

for module in (ledger, quarantine, demo, ingest, warehouse, reconcile, api):
    module.register(app)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(EXIT_BAD_INPUT) from None
