"""The ledger's own commands: ``init``, ``migrate``, ``post``, ``balances``, ``transactions`` (and
``transactions reverse``), ``export-csv`` and the ``accounts`` group (``create``, ``list``, ``show``, ``update``,
``archive``, ``limits``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import (
    EXIT_RULE_BROKEN,
    JsonOption,
    LedgerFilterOption,
    StoreOption,
    console,
    emit,
    fail,
    handled_errors,
    list_rows,
    open_store,
    progress_hook,
    read,
    show_rows,
    store_transaction,
    table,
)
from ledger_pipeline.ledger.money import format_amount
from ledger_pipeline.redact import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger_pipeline.ledger.posting import BatchResult

# Domain modules are imported inside the commands: they load pyarrow and the database drivers, which would
# double the start-up time of `ledger-pipeline --help` (measured with `python -X importtime`).

account_app = typer.Typer(help="Ledger accounts: create, list, show, update, archive, limits.", no_args_is_help=True)
transactions_app = typer.Typer(
    help="Ledger transactions: list them (run with no subcommand) and reverse one.", invoke_without_command=True)

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]
LedgerNameOption = Annotated[str, typer.Option(help="Ledger of the account")]
NewDescriptionOption = Annotated[str | None, typer.Option(help="New description")]
SetMetadataOption = Annotated[list[str] | None, typer.Option(
    "--metadata", help="Set metadata KEY=VALUE (repeatable; KEY= removes the key)")]
AccountArgument = Annotated[str, typer.Argument(help="Account name or id")]

TRANSACTION_STATUSES = ("pending", "posted", "archived")
EXPORTABLE_TABLES = (
    "ledgers", "ledger_accounts", "ledger_account_balances", "ledger_transactions", "ledger_entries",
    "quarantine", "audit_log", "events",
)


def init(store: StoreOption = None, ledger: Annotated[str, typer.Option(help="Default ledger to create.")] = "main",
         as_json: JsonOption = False) -> None:
    """Create the store's tables and the default ledger (safe to run again)."""
    from ledger_pipeline.store_setup import initialize_store

    target = open_store(store)
    with handled_errors():
        initialize_store(target, default_ledger=ledger)
    emit({"store": redact_url(target.url), "ledger": ledger, "initialized": True}, as_json,
         lambda d: console.print(f"Initialised [bold]{d['store']}[/bold] with ledger [bold]{d['ledger']}[/bold]."))


def migrate(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Upgrade an existing store in place to the current schema (safe to run again)."""
    from ledger_pipeline.store_setup import migrate_store

    target = open_store(store)
    with handled_errors():  # a store never initialised: exit 3 (ledger.store_errors)
        result = migrate_store(target)
    head = result.applied[-1] if result.applied else result.start

    def show(d: dict) -> None:
        found = f"was at {d['from']}" + (" (read from schema_info)" if d["stamped"] else "")
        done = f"applied {', '.join(d['applied'])}" if d["applied"] else "already current, nothing to do"
        console.print(f"{d['store']}: {found}; {done}; now at {d['to']}.", soft_wrap=True)

    emit({"store": redact_url(target.url), "from": result.start, "stamped": result.stamped,
          "applied": result.applied, "to": head}, as_json, show)


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(help="Account name, unique in its ledger")],
    normal_balance: Annotated[str, typer.Option("--normal-balance", help="credit or debit")],
    currency: Annotated[str, typer.Option(help="ISO 4217 or custom code (POINTS, BTC...)")],
    exponent: Annotated[int | None, typer.Option(help="Currency exponent (default: ISO 4217's, else 2)")] = None,
    ledger: Annotated[str, typer.Option(help="Ledger name")] = "main",
    min_available: Annotated[int | None, typer.Option(help="Balance limit: available >= this (minor units)")] = None,
    max_available: Annotated[int | None, typer.Option(help="Balance limit: available <= this (minor units)")] = None,
    description: Annotated[str | None, typer.Option(help="What the account is for")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a ledger account (a no-op if it exists with the same definition)."""
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger

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
def account_list(ledger: LedgerFilterOption = None, store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List ledger accounts with their definitions."""
    from ledger_pipeline.ledger.queries import list_accounts

    list_rows(store, list_accounts, {"ledger": ledger}, as_json,
              "Ledger accounts", ["ledger", "name", "normal", "currency", "exp", "limits", "archived"],
              lambda r: [r["ledger"], r["name"], r["normal_balance"], r["currency"], r["currency_exponent"],
                         _limits(r), "yes" if r["archived_at"] else ""])


@account_app.command("show")
def account_show(
    name: AccountArgument,
    ledger: LedgerNameOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One account: its definition, metadata, limits, balances and the bank-side account it is linked to."""
    from ledger_pipeline.ledger.queries import account_detail

    row = read(open_store(store), account_detail, ledger=ledger, account=name)
    if row is None:
        raise fail(f"account {name!r} not found in ledger {ledger!r}")

    def show(r: dict) -> None:
        money = {k: format_amount(v, r["currency_exponent"], r["currency"]) for k, v in r["balances"].items()}
        link = r["link"]
        console.print(table(f"Account {r['name']} ({r['ledger']})", ["", "value"], [
            ["id", r["id"]], ["normal balance", r["normal_balance"]], ["currency", r["currency"]],
            ["description", r["description"]], ["metadata", json.dumps(r["metadata"], sort_keys=True)],
            ["limits", _limits(r)], ["archived", r["archived_at"] or ""],
            *[[f"{k} balance", v] for k, v in money.items()],
            ["linked to", f"{link['type']} {link['name'] or ''} ({link['id']})" if link else ""]]))

    emit(row, as_json, show)


@account_app.command("update")
def account_update(
    name: AccountArgument,
    description: NewDescriptionOption = None,
    metadata: SetMetadataOption = None,
    ledger: LedgerNameOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an account's description or metadata (its currency and normal balance never change)."""
    from ledger_pipeline.ledger.admin import update_account

    update_described(store, as_json, update_account, ledger, name, description, metadata, "Account")


def update_described(store: str | None, as_json: bool, update: Callable[..., str], ledger: str, name: str,
                     description: str | None, metadata: list[str] | None, label: str) -> None:
    """The ``update`` command of accounts and categories: only description and metadata ever change."""
    if description is None and not metadata:
        raise fail("give --description and/or --metadata KEY=VALUE")
    pairs = metadata_pairs(metadata)
    with store_transaction(store) as conn:
        row_id = update(conn, ledger, name, description=description, metadata=pairs, actor="cli")
    emit({"id": row_id, "ledger": ledger, "name": name, "updated": True}, as_json,
         lambda d: console.print(f"{label} [bold]{escape(name)}[/bold] updated."))


@account_app.command("archive")
def account_archive(
    name: Annotated[str, typer.Argument(help="Account name")],
    ledger: LedgerNameOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Archive an account: it keeps its history and balances but takes no new entries."""
    from ledger_pipeline.ledger.accounts import archive_account

    with store_transaction(store) as conn:
        archive_account(conn, ledger, name, actor="cli")
    emit({"ledger": ledger, "name": name, "archived": True}, as_json,
         lambda d: console.print(f"Account [bold]{escape(name)}[/bold] archived."))


@account_app.command("limits")
def account_limits(
    name: AccountArgument,
    min_available: Annotated[int | None, typer.Option(help="Available balance must stay >= this (minor units)")] = None,
    max_available: Annotated[int | None, typer.Option(help="Available balance must stay <= this (minor units)")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the limits not given")] = False,
    ledger: LedgerNameOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set an account's balance limits (a limit not given keeps its value, unless --clear)."""
    from ledger_pipeline.ledger.admin import set_account_limits

    if min_available is None and max_available is None and not clear:
        raise fail("give --min-available, --max-available or --clear")
    with store_transaction(store) as conn:
        result = set_account_limits(conn, ledger, name, min_available=min_available, max_available=max_available,
                                    clear=clear, actor="cli")
    emit(result, as_json, lambda d: console.print(
        f"Account [bold]{escape(name)}[/bold] limits: "
        + (_limits({"min_available_balance": d["min_available"], "max_available_balance": d["max_available"]})
           or "none")))


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


def post(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of entries (see docs: batch format)")],
    ledger: Annotated[str, typer.Option(help="Ledger for rows without a ledger column")] = "main",
    source: Annotated[str | None, typer.Option(help="Source name recorded on the transactions")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and post a batch of entries; refused transactions go to quarantine (exit code 1)."""
    from ledger_pipeline.ledger.batch_input import file_sha256
    from ledger_pipeline.ledger.posting import post_batch_file

    target = open_store(store)
    with handled_errors(files=file), progress_hook(f"post {file.name}", as_json,
                                                   ("read", "validated|staged", "written")) as hook:
        result = post_batch_file(target, file, default_ledger=ledger, source=source, actor="cli",
                                 request_hash=file_sha256(file), progress=hook)
    emit(result.as_dict(), as_json, lambda _: render_batch(result, f"Posted {file.name}"))
    if result.quarantined or result.reason_counts:
        raise typer.Exit(EXIT_RULE_BROKEN)


def balances(
    account: Annotated[str | None, typer.Option(help="Account name or id")] = None,
    ledger: Annotated[str | None, typer.Option(help="Ledger name")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", help="Effective time (ISO 8601, UTC if no zone)",
                                                   formats=TIME_FORMATS)] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Posted, pending and available balances of each account (now, or as of an effective time)."""
    from ledger_pipeline.ledger.balances import account_balances

    target = open_store(store)
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    rows = read(target, account_balances, ledger=ledger, account=account, as_of=as_of)
    if account and not rows:
        raise fail(f"account {account!r} not found")

    def money(row: dict, kind: str) -> str:
        return format_amount(row[f"{kind}_amount"], row["currency_exponent"], row["currency"])

    show_rows(rows, as_json, "Balances" + (f" as of {as_of.isoformat()}" if as_of else ""),
              ["ledger", "account", "normal", "posted", "pending", "available"],
              lambda r: [r["ledger"], r["account"], r["normal_balance"],
                         money(r, "posted"), money(r, "pending"), money(r, "available")],
              right={"posted", "pending", "available"})


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def metadata_pairs(pairs: list[str] | None, option: str = "--metadata") -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict; exits 2 naming a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"{option} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@transactions_app.callback()
def transactions(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, posted or archived")] = None,
    external_id: Annotated[str | None, typer.Option("--external-id", help="Only the transaction with this external id")] = None,
    ledger: LedgerFilterOption = None,
    account: Annotated[str | None, typer.Option(help="Only transactions with an entry on this account (name or id)")] = None,
    effective_from: Annotated[datetime | None, typer.Option(
        "--effective-from", formats=TIME_FORMATS, help="Effective at or after this time (ISO 8601, UTC if no zone)")] = None,
    effective_to: Annotated[datetime | None, typer.Option(
        "--effective-to", formats=TIME_FORMATS, help="Effective before this time (exclusive; ISO 8601, UTC if no zone)")] = None,
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", help="Only transactions whose metadata has KEY=VALUE (repeatable: all must hold)")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N")] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The most recent ledger transactions with their entries, filtered by status, account, effective time
    or metadata."""
    if ctx.invoked_subcommand is not None:
        return
    from ledger_pipeline.ledger.queries import search_transactions

    if status is not None and status not in TRANSACTION_STATUSES:
        raise fail(f"--status {status!r}: choose one of {', '.join(TRANSACTION_STATUSES)}")
    list_rows(store, search_transactions,
              {"status": status, "external_id": external_id, "ledger": ledger, "account": account,
               "effective_from": _utc(effective_from), "effective_to": _utc(effective_to),
               "metadata": metadata_pairs(metadata), "limit": limit}, as_json,
              "Ledger transactions", ["effective_at", "external_id", "status", "entries"],
              lambda t: [t["effective_at"], t["external_id"], t["status"], "; ".join(
                  f"{'Dr' if e['direction'] == 'debit' else 'Cr'} {e['account']} "
                  f"{format_amount(e['amount'], e['currency_exponent'], e['currency'])}" for e in t["entries"])])


@transactions_app.command("reverse")
def transaction_reverse(
    transaction: Annotated[str, typer.Argument(help="Id or external id of the posted transaction to reverse")],
    external_id: Annotated[str | None, typer.Option(
        "--external-id", help="External id of the reversal (default: ORIGINAL:reversal; a repeat is a no-op)")] = None,
    description: Annotated[str | None, typer.Option(help="Description of the reversal")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reverse a posted transaction: a new transaction with every entry's direction flipped."""
    from ledger_pipeline.ledger.posting import open_writer

    target = open_store(store)
    with handled_errors(), open_writer(target, actor="cli", group_commit=False) as writer:
        result = writer.reverse(transaction, external_id=external_id, description=description)
    emit({"id": result.id, "external_id": result.external_id, "status": result.status, "action": result.action},
         as_json, lambda d: console.print(f"Reversal {d['external_id']} ({d['id']}): {d['action']}, {d['status']}."))


def export_csv(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help=f"One of: {', '.join(EXPORTABLE_TABLES)}")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: TABLE.csv)")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Write text cells verbatim, even those a spreadsheet would "
                                                    "run as a formula")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a ledger table to CSV (amounts as exact integers of minor units).

    Spreadsheet-safe by default: a text cell starting with =, +, -, @, a tab or a carriage return gets a
    leading ' so that a spreadsheet shows it instead of running it as a formula; --raw writes cells verbatim."""
    from ledger_pipeline.ledger.queries import export_table_csv

    if table_name not in EXPORTABLE_TABLES:
        raise fail(f"unknown table {table_name!r}; choose one of {', '.join(EXPORTABLE_TABLES)}")
    path = output or Path(f"{table_name}.csv")
    rows = read(open_store(store), export_table_csv, table_name=table_name, path=path, raw=raw)
    emit({"table": table_name, "rows": int(rows), "file": str(path)}, as_json,
         lambda d: console.print(f"Wrote {d['rows']:,} rows of {table_name} to {d['file']}"))


def register(app: typer.Typer) -> None:
    for command in (init, migrate, post, balances):
        app.command()(command)
    app.add_typer(transactions_app, name="transactions")
    app.command("export-csv")(export_csv)
    app.add_typer(account_app, name="accounts")

