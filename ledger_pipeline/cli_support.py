"""What every ``ledger-pipeline`` command shares: the ``--store``/``--json`` options, output, exit codes.

Exit codes (DESIGN.md): 0 success, 1 the data broke a rule (details printed), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger_pipeline.ledger.errors import InputError, LedgerError, NotFoundError, RuleViolation
from ledger_pipeline.ledger.store import Store, default_store_url

EXIT_OK = 0
EXIT_RULE_BROKEN = 1
EXIT_BAD_INPUT = 2

console = Console(stderr=False)
# Errors are never wrapped: "file, line N: rule" stays on one line so it can be grepped and parsed.
err_console = Console(stderr=True, soft_wrap=True)

StoreOption = Annotated[
    str | None,
    typer.Option("--store", envvar="LEDGER_STORE_URL", help="Store URL (duckdb:///path or postgresql://...).",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def open_store(url: str | None) -> Store:
    try:
        return Store(url or default_store_url())
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=_json_default, indent=2, sort_keys=False))


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON for machines, or with ``render`` for people."""
    if as_json:
        print_json(data)
    else:
        render(data)


def table(title: str | None, columns: list[str], rows: list[list[Any]], right: set[str] | None = None) -> Table:
    out = Table(title=title, show_lines=False)
    for name in columns:
        out.add_column(name, justify="right" if right and name in right else "left")
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


@contextmanager
def handled_errors() -> Iterator[None]:
    """Turn the core's errors into a clear message and the documented exit code (the message is printed
    as text: ``payment_metadata[order_id]`` is a column name, not console markup)."""
    try:
        yield
    except RuleViolation as exc:
        err_console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_RULE_BROKEN) from exc
    except (InputError, NotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    except LedgerError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_RULE_BROKEN) from exc


def progress(enabled: bool = True) -> Progress:
    """A progress display on stderr (so ``--json`` output on stdout stays clean)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not enabled)
