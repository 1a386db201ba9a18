"""The ``ledger-pipeline`` command: one entry point for the ledger and the pipeline around it.

Core commands live here; each package adds its own (``ingest``, ``reconcile``, ``sync``, ``demo``) through
``register(app)`` in its ``commands.py``, listed in ``_register_commands``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer

from ledger_pipeline.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_RULE_BROKEN,
    JsonOption,
    StoreOption,
    console,
    emit,
    err_console,
    handled_errors,
    open_store,
    progress,
    table,
)
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.batch_input import file_sha256
from ledger_pipeline.ledger.money import format_amount
from ledger_pipeline.ledger.posting import BatchResult, post_batch_file
from ledger_pipeline.ledger.quarantine import list_quarantine, replay_quarantine
from ledger_pipeline.ledger.store import quote_identifier
from ledger_pipeline.ledger.transactions import list_transactions
from ledger_pipeline.migrations import StoreNotInitialised
from ledger_pipeline.store_setup import initialize_store, migrate_store

app = typer.Typer(
    name="ledger-pipeline",
    help="A double-entry ledger database and data pipeline (Modern Treasury's ledger model).",
    no_args_is_help=True,
    add_completion=False,
)
account_app = typer.Typer(help="Ledger accounts: create and list.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records that could not be posted: list and replay.", no_args_is_help=True)
app.add_typer(account_app, name="accounts")
app.add_typer(quarantine_app, name="quarantine")

EXPORTABLE_TABLES = (
    "ledgers", "ledger_accounts", "ledger_account_balances", "ledger_transactions", "ledger_entries",
    "quarantine", "audit_log", "events",
)


@app.command()
def init(store: StoreOption = None, ledger: Annotated[str, typer.Option(help="Default ledger to create.")] = "main",
         as_json: JsonOption = False) -> None:
    """Create the store's tables and the default ledger (safe to run again)."""
    target = open_store(store)
    with handled_errors():
        initialize_store(target, default_ledger=ledger)
    emit({"store": target.redacted_url, "ledger": ledger, "initialized": True}, as_json,
         lambda d: console.print(f"Initialised [bold]{d['store']}[/bold] with ledger [bold]{d['ledger']}[/bold]."))


EXIT_NOT_A_STORE = 3


@app.command()
def migrate(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Upgrade an existing store in place to the current schema (safe to run again)."""
    target = open_store(store)
    try:
        result = migrate_store(target)
    except StoreNotInitialised as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_NOT_A_STORE) from exc
    head = result.applied[-1] if result.applied else result.start

    def show(d: dict) -> None:
        found = f"was at {d['from']}" + (" (read from schema_info)" if d["stamped"] else "")
        done = f"applied {', '.join(d['applied'])}" if d["applied"] else "already current, nothing to do"
        console.print(f"{d['store']}: {found}; {done}; now at {d['to']}.", soft_wrap=True)

    emit({"store": target.redacted_url, "from": result.start, "stamped": result.stamped,
          "applied": result.applied, "to": head}, as_json, show)


@account_app.command("create")
def account_create(
    name: str,
    normal_balance: Annotated[str, typer.Option("--normal-balance", help="credit or debit")],
    currency: Annotated[str, typer.Option(help="ISO 4217 or custom code (POINTS, BTC...)")],
    exponent: Annotated[int | None, typer.Option(help="Currency exponent (default: ISO 4217's, else 2)")] = None,
    ledger: Annotated[str, typer.Option(help="Ledger name")] = "main",
    min_available: Annotated[int | None, typer.Option(help="Balance limit: available >= this (minor units)")] = None,
    max_available: Annotated[int | None, typer.Option(help="Balance limit: available <= this (minor units)")] = None,
    description: str | None = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a ledger account (a no-op if it exists with the same definition)."""
    target = open_store(store)
    spec = AccountSpec(name=name, normal_balance=normal_balance, currency=currency, currency_exponent=exponent,
                       description=description, min_available_balance=min_available,
                       max_available_balance=max_available)
    with handled_errors(), target.transaction() as conn:
        ensure_ledger(conn, ledger)
        account_id = ensure_account(conn, ledger, spec, actor="cli")
    emit({"id": account_id, "ledger": ledger, "name": name}, as_json,
         lambda d: console.print(f"Account [bold]{name}[/bold] in ledger {ledger}: {d['id']}"))


@account_app.command("list")
def account_list(ledger: str | None = None, store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List ledger accounts with their definitions."""
    target = open_store(store)
    with handled_errors(), target.connect(read_only=True) as conn:
        rows = conn.dicts(
            "SELECT l.name AS ledger, a.name, a.id, a.normal_balance, a.currency, a.currency_exponent, "
            "a.min_available_balance, a.max_available_balance, a.archived_at FROM ledger_accounts a "
            "JOIN ledgers l ON l.id = a.ledger_id WHERE CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger "
            "ORDER BY l.name, a.name", {"ledger": ledger})
    emit(rows, as_json, lambda rs: console.print(table(
        "Ledger accounts", ["ledger", "name", "normal", "currency", "exp", "limits", "archived"],
        [[r["ledger"], r["name"], r["normal_balance"], r["currency"], r["currency_exponent"],
          _limits(r), "yes" if r["archived_at"] else ""] for r in rs])))


def _limits(row: dict) -> str:
    parts = []
    if row["min_available_balance"] is not None:
        parts.append(f">= {int(row['min_available_balance'])}")
    if row["max_available_balance"] is not None:
        parts.append(f"<= {int(row['max_available_balance'])}")
    return ", ".join(parts)


def render_batch(result: BatchResult, title: str = "Batch") -> None:
    console.print(table(title, ["created", "transitioned", "duplicates (no-op)", "quarantined", "entries posted"],
                        [[result.created, result.transitioned, result.duplicates, result.quarantined,
                          result.entries_posted]]))
    if result.reason_counts:
        console.print(table("Refused transactions by reason", ["reason_code", "transactions"],
                            [[k, v] for k, v in result.reason_counts.items()], right={"transactions"}))
        for violation in result.violations[:20]:
            console.print(f"  [yellow]{violation.reason_code}[/yellow] {violation.detail}")
        if len(result.violations) > 20:
            console.print(f"  ... {len(result.violations) - 20} more (see `ledger-pipeline quarantine list`)")


@app.command()
def post(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of entries (see docs: batch format)")],
    ledger: Annotated[str, typer.Option(help="Ledger for rows without a ledger column")] = "main",
    source: Annotated[str | None, typer.Option(help="Source name recorded on the transactions")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and post a batch of entries; refused transactions go to quarantine (exit code 1)."""
    target = open_store(store)
    with handled_errors(), progress(not as_json) as bar:
        task = bar.add_task(f"posting {file.name}", total=1)
        result = post_batch_file(target, file, default_ledger=ledger, source=source, actor="cli",
                                 request_hash=file_sha256(file))
        bar.update(task, advance=1)
    emit(result.as_dict(), as_json, lambda _: render_batch(result, f"Posted {file.name}"))
    if result.quarantined or result.reason_counts:
        raise typer.Exit(EXIT_RULE_BROKEN)


@app.command()
def balances(
    account: Annotated[str | None, typer.Option(help="Account name or id")] = None,
    ledger: Annotated[str | None, typer.Option(help="Ledger name")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", help="Effective time (ISO 8601, UTC if no zone)",
                                                   formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S",
                                                            "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"])] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Posted, pending and available balances of each account (now, or as of an effective time)."""
    target = open_store(store)
    if as_of is not None and as_of.tzinfo is None:
        from datetime import UTC

        as_of = as_of.replace(tzinfo=UTC)
    with handled_errors(), target.connect(read_only=True) as conn:
        rows = account_balances(conn, ledger=ledger, account=account, as_of=as_of)
    if account and not rows:
        err_console.print(f"[red]error:[/red] account {account!r} not found")
        raise typer.Exit(EXIT_BAD_INPUT)

    def render(rs: list[dict]) -> None:
        title = "Balances" + (f" as of {as_of.isoformat()}" if as_of else "")
        console.print(table(title, ["ledger", "account", "normal", "posted", "pending", "available"], [
            [r["ledger"], r["account"], r["normal_balance"],
             format_amount(r["posted_amount"], r["currency_exponent"], r["currency"]),
             format_amount(r["pending_amount"], r["currency_exponent"], r["currency"]),
             format_amount(r["available_amount"], r["currency_exponent"], r["currency"])] for r in rs],
            right={"posted", "pending", "available"}))

    emit(rows, as_json, render)


@app.command()
def transactions(
    status: Annotated[str | None, typer.Option(help="pending, posted or archived")] = None,
    external_id: Annotated[str | None, typer.Option("--external-id")] = None,
    ledger: str | None = None,
    limit: Annotated[int, typer.Option(help="Most recent N")] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The most recent ledger transactions with their entries."""
    target = open_store(store)
    with handled_errors(), target.connect(read_only=True) as conn:
        txs = list_transactions(conn, status=status, external_id=external_id, ledger=ledger, limit=limit)

    def render(rs: list[dict]) -> None:
        console.print(table("Ledger transactions", ["effective_at", "external_id", "status", "entries"], [
            [t["effective_at"], t["external_id"], t["status"], "; ".join(
                f"{'Dr' if e['direction'] == 'debit' else 'Cr'} {e['account']} "
                f"{format_amount(e['amount'], e['currency_exponent'], e['currency'])}" for e in t["entries"])]
            for t in rs]))

    emit(txs, as_json, render)


@quarantine_app.command("list")
def quarantine_list(
    status: Annotated[str, typer.Option(help="open, replayed, discarded or all")] = "open",
    reason: Annotated[str | None, typer.Option(help="Only this reason code")] = None,
    limit: int = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Quarantined transactions with their reason and where they came from."""
    target = open_store(store)
    with handled_errors(), target.connect(read_only=True) as conn:
        rows = list_quarantine(conn, status=None if status == "all" else status, reason_code=reason, limit=limit)
    emit(rows, as_json, lambda rs: console.print(table(
        "Quarantine", ["reason_code", "external_id", "record", "attempts", "status", "reason"],
        [[r["reason_code"], r["external_id"], r["record_ref"], r["attempts"], r["status"], r["reason"]] for r in rs])))


@quarantine_app.command("replay")
def quarantine_replay(
    reason: Annotated[str | None, typer.Option(help="Only items with this reason code")] = None,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Only these quarantine ids")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay open quarantine items after fixing their cause (mapping, chart of accounts...)."""
    target = open_store(store)
    with handled_errors():
        result = replay_quarantine(target, ids=ids, reason_code=reason, actor="cli")
    emit(result.as_dict(), as_json, lambda _: (
        console.print(f"Replayed {result.replayed} item(s); {result.transactions_in - result.replayed} still open."),
        render_batch(result, "Replay"),
    ))
    if result.reason_counts:
        raise typer.Exit(EXIT_RULE_BROKEN)


@app.command("export-csv")
def export_csv(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help=f"One of: {', '.join(EXPORTABLE_TABLES)}")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: TABLE.csv)")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a ledger table to CSV (amounts as exact integers of minor units)."""
    if table_name not in EXPORTABLE_TABLES:
        err_console.print(f"[red]error:[/red] unknown table {table_name!r}; choose one of {', '.join(EXPORTABLE_TABLES)}")
        raise typer.Exit(EXIT_BAD_INPUT)
    target = open_store(store)
    path = output or Path(f"{table_name}.csv")
    with handled_errors(), target.connect(read_only=True) as conn:
        name = quote_identifier(table_name)
        if conn.is_postgres:
            with open(path, "wb") as handle, conn.raw.cursor() as cur, cur.copy(
                f"COPY (SELECT * FROM {name} ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER true)"
            ) as copy:
                for chunk in copy:
                    handle.write(chunk)
            rows = conn.scalar(f"SELECT count(*) FROM {name}")
        else:
            data = conn.arrow(f"SELECT * FROM {name} ORDER BY 1")
            pacsv.write_csv(data, path)
            rows = data.num_rows
    emit({"table": table_name, "rows": int(rows), "file": str(path)}, as_json,
         lambda d: console.print(f"Wrote {d['rows']:,} rows of {table_name} to {d['file']}"))


def _register_commands() -> None:
    """Commands contributed by the other packages, each through ``register(app)`` in its ``commands.py``."""
    from ledger_pipeline.demo import commands as demo_commands
    from ledger_pipeline.ingest import commands as ingest_commands
    from ledger_pipeline.reconcile import commands as reconcile_commands
    from ledger_pipeline.warehouse import commands as warehouse_commands

    for module in (demo_commands, ingest_commands, reconcile_commands, warehouse_commands):
        module.register(app)


_register_commands()


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(EXIT_BAD_INPUT) from None


if __name__ == "__main__":  # pragma: no cover
    main()
