"""The ``ledger-pipeline`` application: one entry point for the ledger and the pipeline around it.

Each command group's module adds its commands through ``register(app)``; the order below is the order of
``ledger-pipeline --help``. Every error that escapes a command goes through the same boundary as
``support.handled_errors``: one line on stderr and the documented exit code (a traceback with ``--debug``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperOption

from ledger_pipeline.cli import (
    api,
    audit,
    categories,
    check,
    demo,
    ingest,
    ledger,
    quarantine,
    reconcile,
    support,
    warehouse,
    webhooks,
)
from ledger_pipeline.cli.support import EXIT_BAD_INPUT, error_exit


def _tidy_help(command: Any) -> None:
    """Option values named in ``--help`` by what they hold (``--store URL``), not by Python types
    (``<str>``, ``<bool>``, ``<list[Path]>``); flags show no value at all."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else param.name.upper().replace("_", "-")
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx: None  # the name says it: no <str>/<path> beside it
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


class LedgerApp(typer.Typer):
    """A Typer application whose console entry point turns any escaping error into one line and an exit code."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        command = typer.main.get_command(self)
        _tidy_help(command)
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            raise SystemExit(EXIT_BAD_INPUT) from None
        except Exception as exc:  # noqa: BLE001 - the last boundary before a traceback
            raise SystemExit(error_exit(exc).exit_code) from None


app = LedgerApp(
    name="ledger-pipeline",
    help="A double-entry ledger database and data pipeline (Modern Treasury's ledger model).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"ledger-pipeline {version('ledger-pipeline')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an error, print its traceback too.")] = False,
) -> None:
    """A double-entry ledger database and data pipeline (Modern Treasury's ledger model)."""
    support.DEBUG = debug


for module in (ledger, categories, check, quarantine, audit, demo, ingest, warehouse, reconcile, api, webhooks):
    module.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
