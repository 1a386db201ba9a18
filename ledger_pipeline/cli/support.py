"""What every ``ledger-pipeline`` command shares: the ``--store``/``--json`` options, output, exit codes, the
boundary that turns the core's errors into exit codes, and the read-and-list steps of the list commands.

Exit codes (docs/design.md): 0 success, 1 the data broke a rule (details printed), 2 bad usage or unreadable
input, 3 the store or a server cannot be reached, is locked, or is not a store (yet), 70 an internal error
(a bug; ``--debug`` shows its traceback). Every error is one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger_pipeline.ledger.errors import InputError, LedgerError, NotFoundError, RuleViolation
from ledger_pipeline.ledger.store_errors import classify
from ledger_pipeline.progress import ProgressHook, no_progress
from ledger_pipeline.redact import redact_url

if TYPE_CHECKING:
    from ledger_pipeline.ledger.store import Connection, Store

T = TypeVar("T")

EXIT_OK = 0
EXIT_RULE_BROKEN = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3  # the store or a server cannot be reached, is locked, or is not a store
EXIT_INTERNAL = 70  # a bug (EX_SOFTWARE); the message says to run again with --debug

# Set by the global ``--debug`` option: errors then also print their traceback.
DEBUG = False

console = Console(stderr=False)
# Errors are never wrapped: "file, line N: rule" stays on one line so it can be grepped and parsed.
err_console = Console(stderr=True, soft_wrap=True)

StoreOption = Annotated[
    str | None,
    typer.Option("--store", envvar="LEDGER_STORE_URL", help="Store URL (duckdb:///path or postgresql://...).",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
LedgerFilterOption = Annotated[str | None, typer.Option(help="Only this ledger")]
OptionOption = Annotated[list[str] | None, typer.Option(
    "--option", "-o", help="Parser option KEY=VALUE (e.g. a CSV statement's column mapping: date=Date).")]


def parser_options(pairs: list[str] | None) -> dict[str, Any]:
    """``-o KEY=VALUE`` pairs as a dict (``true``/``false`` become booleans)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--option expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = {"true": True, "false": False}.get(value.strip().lower(), value)
    return out


def fail(message: str, code: int = EXIT_BAD_INPUT, label: str = "error") -> typer.Exit:
    """Print ``label: message`` on stderr, the message as plain text (``payment_metadata[order_id]`` is a
    column name, not console markup); returns the exit to raise."""
    one_line = " ".join(redact_url(message).split())
    err_console.print(f"[red]{label}:[/red] {escape(one_line)}")
    return typer.Exit(code)


def open_store(url: str | None) -> Store:
    # The store module loads pyarrow and the database drivers, which `--help` does not need.
    from ledger_pipeline.ledger.store import Store, default_store_url

    try:
        target = Store(url or default_store_url())
    except ValueError as exc:
        raise fail(str(exc)) from exc
    return target


def _file_list(files: Any) -> list[Any]:
    if files is None:
        return []
    return list(files) if isinstance(files, list | tuple) else [files]


def _where(files: Any) -> str:
    return ", ".join(str(f) for f in _file_list(files))


def error_exit(exc: BaseException, files: Any = None) -> typer.Exit:
    """Print the one-line message for ``exc`` (the traceback too with ``--debug``) and return the exit to
    raise, with the documented code. ``files``: the input file(s) being read, named when a parser fails."""
    if DEBUG:
        traceback.print_exception(exc, file=sys.stderr)
    store_error = classify(exc)
    if store_error is not None:
        return fail(str(store_error), EXIT_UNREACHABLE, "store unavailable")
    if isinstance(exc, RuleViolation):
        return fail(str(exc), EXIT_RULE_BROKEN, "refused")
    where = _where(files)
    if isinstance(exc, InputError | NotFoundError | ValueError):
        message = str(exc)
        if where and not isinstance(exc, LedgerError) and not any(
                Path(str(f)).name in message for f in _file_list(files)):
            message = f"{where}: {message}"  # a parser's own ValueError: say which file
        return fail(message)
    if isinstance(exc, LedgerError):
        return fail(str(exc), EXIT_RULE_BROKEN)
    if isinstance(exc, OSError) and exc.filename is not None:
        return fail(f"{exc.filename}: {exc.strerror or exc}")
    if where and isinstance(exc, ArithmeticError | RecursionError | TypeError | LookupError | AttributeError
                            | UnicodeError | OverflowError):
        line = getattr(exc, "lineno", None)
        location = f", line {line}" if line else ", line unknown"
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return fail(f"{where}{location}: cannot be parsed ({type(exc).__name__}{': ' + detail if detail else ''})")
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return fail(f"{type(exc).__name__}: {detail} (a bug; run again with --debug for the traceback)",
                EXIT_INTERNAL, "internal error")


JSON_VERSION = 1  # of the ``--json`` envelope; raised when a field changes meaning or disappears

# Keys holding an integer of minor units (besides ``amount`` and the suffixes below); the values of a
# ``balances`` mapping are amounts too. What a source or a user wrote (raw payloads, a parser's record fields,
# metadata, audit details) is printed as it was received.
AMOUNT_KEYS = frozenset({"amount", "variance", "min_available", "max_available"})
AMOUNT_SUFFIXES = ("_amount", "_balance", "_debits", "_credits", "_total")
RAW_KEYS = frozenset({"raw", "raw_payload", "fields", "metadata", "detail"})


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def _minor_units(value: Any) -> int | None:
    """``value`` as an integer of minor units, or None when it is not one (text, a flag, a fraction)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def _is_amount(key: str, parent: str | None) -> bool:
    return key in AMOUNT_KEYS or key.endswith(AMOUNT_SUFFIXES) or parent == "balances"


def _exponent(row: dict, inherited: int | None, exponents: dict[str, int]) -> int | None:
    """The currency exponent of the amounts in ``row``: its own ``currency_exponent``, else its
    ``currency``'s (the store's, else ISO 4217's or a known custom code's), else the enclosing object's;
    None when unknown."""
    from ledger_pipeline.ledger.money import currency_exponent

    if isinstance(row.get("currency_exponent"), int):
        return row["currency_exponent"]
    currency = row.get("currency")
    if isinstance(currency, str) and currency:
        known = exponents.get(currency, exponents.get(currency.upper()))
        if known is not None:
            return known
        if len(currency) == 3 and currency.isalpha():  # an ISO 4217 code: 2 unless the standard says otherwise
            return currency_exponent(currency)
        return currency_exponent(currency, default=None)
    return inherited


def json_amounts(data: Any, exponents: dict[str, int] | None = None, *, _exp: int | None = None,
                 _parent: str | None = None) -> Any:
    """``data`` with each amount as a decimal string in major units plus its integer of minor units as a
    string (``"amount": "12.34", "amount_minor": "1234"``): JSON readers that hold numbers as doubles
    (JavaScript) lose precision above 2**53. An amount with no single currency (a sum across currencies)
    keeps only its ``_minor`` string. ``exponents``: currency -> exponent, for rows that name a currency only."""
    from ledger_pipeline.ledger.money import to_major

    exponents = exponents or {}
    if isinstance(data, list | tuple):
        return [json_amounts(v, exponents, _exp=_exp, _parent=_parent) for v in data]
    if not isinstance(data, dict):
        return data
    exp = _exponent(data, _exp, exponents)
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        minor = _minor_units(value)
        if key in RAW_KEYS:
            out[key] = value
        elif minor is not None and key.endswith("_minor"):
            stem = key[: -len("_minor")]
            if exp is not None and stem not in data:
                out[stem] = f"{to_major(minor, exp):.{exp}f}"
            out[key] = str(minor)
        elif value is None and _is_amount(key, _parent):  # no limit, no balance given: the same two keys
            out[key] = out[f"{key}_minor"] = None
        elif minor is not None and _is_amount(key, _parent):
            if exp is not None:
                out[key] = f"{to_major(minor, exp):.{exp}f}"
            out[f"{key}_minor"] = str(minor)
        else:
            out[key] = json_amounts(value, exponents, _exp=exp, _parent=key)
    return out


def print_json(data: Any, exponents: dict[str, int] | None = None) -> None:
    """``data`` in the envelope every ``--json`` output shares: ``{"version": 1, "data": ...}``, amounts
    as :func:`json_amounts` writes them."""
    envelope = {"version": JSON_VERSION, "data": json_amounts(data, exponents)}
    typer.echo(json.dumps(envelope, default=_json_default, indent=2, sort_keys=False))


def emit(data: Any, as_json: bool, render: Callable[[Any], None], exponents: dict[str, int] | None = None) -> None:
    """Print ``data`` as JSON for machines (:func:`print_json`), or with ``render`` for people."""
    if as_json:
        print_json(data, exponents)
    else:
        render(data)


def table(title: str | None, columns: list[str], rows: list[list[Any]], right: set[str] | None = None) -> Table:
    out = Table(title=title, show_lines=False)
    for name in columns:  # a long value wraps onto more lines: never cut
        out.add_column(name, justify="right" if right and name in right else "left", overflow="fold")
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


@contextmanager
def handled_errors(files: Any = None) -> Iterator[None]:
    """Turn the core's errors into a clear one-line message and the documented exit code (the message is
    printed as text: ``payment_metadata[order_id]`` is a column name, not console markup). ``files``: the
    input file(s) the block reads, named when their parser fails in an unforeseen way."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors and exits: Typer reports them
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: every error becomes a message and an exit code
        raise error_exit(exc, files) from exc


@contextmanager
def store_transaction(store: str | None) -> Iterator[Connection]:
    """A write transaction on the store ``--store`` names (opened outside the error boundary, as
    ``open_store`` reports its own errors), its work inside the boundary."""
    target = open_store(store)
    with handled_errors(), target.transaction() as conn:
        yield conn


def read(target: Store, query: Callable[..., T], /, **filters: Any) -> T:
    """``query(conn, **filters)`` on a read-only connection to ``target``, inside the error boundary."""
    with handled_errors(), target.connect(read_only=True) as conn:
        return query(conn, **filters)


def show_rows(rows: list[dict[str, Any]], as_json: bool, title: str, columns: list[str],
              cells: Callable[[dict[str, Any]], list[Any]], right: set[str] | None = None) -> None:
    """``rows`` as JSON (:func:`print_json`), or as a table with one line of ``cells(row)`` per row."""
    emit(rows, as_json, lambda rs: console.print(table(title, columns, [cells(r) for r in rs], right)))


def list_rows(store: str | None, query: Callable[..., list[dict[str, Any]]], filters: dict[str, Any],
              as_json: bool, title: str, columns: list[str], cells: Callable[[dict[str, Any]], list[Any]],
              right: set[str] | None = None) -> None:
    """A list command: the rows ``query(conn, **filters)`` reads from the store, shown by :func:`show_rows`."""
    show_rows(read(open_store(store), query, **filters), as_json, title, columns, cells, right)


def shows_progress(as_json: bool) -> bool:
    """Progress is for a person watching: shown on a terminal only, never with ``--json`` or when piped."""
    return not as_json and err_console.is_terminal


def _counts(detail: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k} {v}"
                     for k, v in detail.items())


@contextmanager
def progress_hook(title: str, as_json: bool, phases: Sequence[str] = ()) -> Iterator[ProgressHook]:
    """A hook for the core's ``progress`` argument that renders each event on stderr as a progress display:
    the phase just finished with its counts (``post e.csv: validated (rows 1,000,000)``) and a bar of
    ``phases`` (an event is one of them, or several spelled ``a|b``). Nothing is shown off a terminal or
    with ``--json`` (:func:`shows_progress`): the hook then does nothing."""
    if not shows_progress(as_json):
        yield no_progress
        return
    # `--help` need not load rich.progress.
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), *([BarColumn()] if phases else []),
               TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(f"{title}: starting", total=len(phases) or None)

        def hook(event: str, detail: Mapping[str, Any]) -> None:
            step = next((i + 1 for i, names in enumerate(phases) if event in names.split("|")), None)
            counts = _counts(detail)
            bar.update(task, description=f"{title}: {event}" + (f" ({counts})" if counts else ""), completed=step)

        yield hook
