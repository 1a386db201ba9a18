"""``ledger-pipeline reconcile``: run a reconciliation and look at its results; set up the bank side.

``ledger-pipeline reconcile [--account NAME] [--json]`` runs one reconciliation (payment order ledgering,
variances, matching) and prints the variances and what was matched; it exits with 1 when a variance
exceeds ``--tolerance`` (minor units, default 0). Subcommands set up internal/external accounts, load
bank statements and payment orders, list matches and exceptions, and record or remove manual matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import (
    EXIT_RULE_BROKEN,
    JsonOption,
    StoreOption,
    console,
    emit,
    err_console,
    fail,
    handled_errors,
    list_rows,
    open_store,
    parser_options,
    progress_hook,
    read,
    store_transaction,
    table,
)
from ledger_pipeline.ledger.money import format_amount

if TYPE_CHECKING:
    from ledger_pipeline.ledger.store import Connection
    from ledger_pipeline.reconcile.runner import ReconResult

# Domain modules are imported inside the commands (see ``cli.ledger``): importing any of
# ``ledger_pipeline.reconcile`` loads the whole package, pyarrow and the database drivers with it.

# ``reconcile.runner.DEFAULT_WINDOW_DAYS``, spelled out so that `--help` need not import the package
# (tests/test_cli_imports.py keeps the two equal).
DEFAULT_WINDOW_DAYS = 3

reconcile_app = typer.Typer(
    help="Reconcile the ledger with bank statements and processors (run with no subcommand to reconcile).",
    invoke_without_command=True,
)
internal_app = typer.Typer(help="Internal accounts (the company's bank accounts).", no_args_is_help=True)
external_app = typer.Typer(help="External accounts (counterparties).", no_args_is_help=True)
reconcile_app.add_typer(internal_app, name="internal-account")
reconcile_app.add_typer(external_app, name="external-account")

InternalAccountOption = Annotated[str | None, typer.Option(help="Internal account (name or id)")]
DateOption = Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                     help="Date the age of unmatched items is counted at (default today)")]


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.callback()
def reconcile(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Internal account (name or id) or its ledger account's name")] = None,
    as_of: DateOption = None,
    window_days: Annotated[int, typer.Option("--window-days", help="Date window of amount matching")] = DEFAULT_WINDOW_DAYS,
    tolerance: Annotated[int, typer.Option(help="Largest acceptable variance, minor units")] = 0,
    rematch: Annotated[bool, typer.Option(help="Drop automatic matches and match from scratch")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reconcile every linked internal account (or one): variances, matches, unmatched items."""
    if ctx.invoked_subcommand is not None:
        return
    from ledger_pipeline.ledger.queries import currency_exponents
    from ledger_pipeline.reconcile.runner import run_reconciliation

    target = open_store(store)
    with handled_errors(), progress_hook("reconcile", as_json, (
            "payment orders", "variances", "matching", "processor breaks")) as hook:
        result = run_reconciliation(target, account=account, as_of=as_of.date() if as_of else None,
                                    window_days=window_days, rematch=rematch, actor="cli", progress=hook)
    exponents = read(target, currency_exponents)
    data = result.as_dict()
    data["breaches"] = [v.as_dict() for v in result.breaches(tolerance)]
    emit(data, as_json, lambda _: _render(result, exponents, tolerance), exponents)
    if data["breaches"]:
        raise typer.Exit(EXIT_RULE_BROKEN)


def _render(result: ReconResult, exponents: dict[str, int], tolerance: int) -> None:
    def money(amount: int, currency: str) -> str:
        return format_amount(amount, exponents.get(currency, 2), currency)

    console.print(table(
        f"Balance reconciliation ({result.accounts} linked account(s))",
        ["internal account", "ledger account", "statement date", "ledger posted", "bank closing", "variance", ""],
        [[v.internal_account, v.ledger_account, v.statement_date, money(v.ledger_balance, v.currency),
          money(v.bank_balance, v.currency), money(v.variance, v.currency),
          "BREACH" if abs(v.variance) > tolerance else "ok"] for v in result.variances],
        right={"ledger posted", "bank closing", "variance"}))
    m = result.matching
    console.print(table("Matching (this run)", ["rule", "new matches"],
                        [[rule, n] for rule, n in sorted(m.matches_by_rule.items())] or [["(none)", 0]],
                        right={"new matches"}))
    console.print(f"Unmatched now: {m.bank_unmatched} bank line(s), {m.ledger_unmatched} ledger item(s); "
                  f"{m.resolved} exception(s) resolved by this run. See `ledger-pipeline reconcile unmatched`.")
    for brk in result.statement_breaks:
        console.print(f"[yellow]statement break[/yellow] {brk['internal_account']} {brk['statement_date']}: "
                      f"{brk['reason']}")
    if result.payment_orders and (result.payment_orders.created or result.payment_orders.transitioned):
        po = result.payment_orders
        console.print(f"Payment orders ledgered: {po.created} created, {po.transitioned} status change(s).")


LedgerAccountOption = Annotated[str | None, typer.Option("--ledger-account", help="Link this ledger account")]
LedgerOption = Annotated[str, typer.Option(help="Ledger of --ledger-account")]


def _create_account(store: str | None, as_json: bool, kind: str, name: str, ledger_account: str | None,
                    ledger: str, create: Callable[[Connection], str], shown_link: bool) -> None:
    """Create a bank-side account with ``create`` and link it to ``ledger_account``, in one transaction."""
    from ledger_pipeline.reconcile.accounts import link_ledger_account

    with store_transaction(store) as conn:
        account_id = create(conn)
        linked = link_ledger_account(conn, ledger_account, kind, account_id, ledger=ledger, actor="cli") \
            if ledger_account else None
    label = kind.split("_")[0].capitalize()
    emit({"id": account_id, "name": name, "ledger_account_id": linked}, as_json,
         lambda d: console.print(f"{label} account [bold]{name}[/bold]: {d['id']}"
                                 + (f" (linked to {ledger_account})" if linked and shown_link else "")))


@internal_app.command("create")
def internal_create(
    name: Annotated[str, typer.Argument(help="Internal account name")],
    identifier: Annotated[str, typer.Option(help="Account number / IBAN as the bank's statements write it")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code")],
    ledger_account: LedgerAccountOption = None,
    ledger: LedgerOption = "main",
    bank_name: Annotated[str | None, typer.Option("--bank-name", help="Bank that holds the account")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an internal account (idempotent), optionally linked to a ledger account."""
    from ledger_pipeline.reconcile.accounts import INTERNAL, ensure_internal_account

    _create_account(store, as_json, INTERNAL, name, ledger_account, ledger, lambda conn: ensure_internal_account(
        conn, name, identifier, currency, bank_name=bank_name, actor="cli"), shown_link=True)


@external_app.command("create")
def external_create(
    name: Annotated[str, typer.Argument(help="External account name")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code")],
    ledger_account: LedgerAccountOption = None,
    ledger: LedgerOption = "main",
    party_name: Annotated[str | None, typer.Option("--party-name", help="Counterparty's legal name")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an external account (idempotent), optionally linked to a ledger account."""
    from ledger_pipeline.reconcile.accounts import EXTERNAL, ensure_external_account

    _create_account(store, as_json, EXTERNAL, name, ledger_account, ledger, lambda conn: ensure_external_account(
        conn, name, currency, party_name=party_name, actor="cli"), shown_link=False)


@reconcile_app.command("import-statement")
def import_statement(
    files: Annotated[list[Path], typer.Argument(help="BAI2, camt.053, OFX or CSV statement files")],
    internal_account: Annotated[str | None, typer.Option("--internal-account",
                                                         help="Attach to this account instead of by identifier")] = None,
    format: Annotated[str | None, typer.Option(help="bai2, camt053, ofx or csv (default: detected)")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Parser option KEY=VALUE, as for `parse bank`: a CSV statement's column mapping "
                               "(date=Date, amount=Amount, currency_code=EUR...); verify=false takes a file whose "
                               "own controls fail (e.g. BAI2 trailer totals), flagging its statements")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Parse bank statement files and attach them to their internal accounts (a file loaded twice is a no-op)."""
    from ledger_pipeline.reconcile.statements import load_statement_file

    target = open_store(store)
    results = []
    options = parser_options(option)
    with handled_errors(files=files):
        for path in files:
            if not path.exists():
                raise fail(f"{path}: no such file")
            with target.transaction() as conn:
                results.append({"file": str(path), **load_statement_file(
                    conn, str(path), internal_account=internal_account, format=format, actor="cli",
                    options=options).as_dict()})
    for r in results:
        for warning in r["warnings"]:
            err_console.print(f"[yellow]warning:[/yellow] {escape(warning)} (statements flagged)")
    emit(results, as_json, lambda rs: console.print(table(
        "Statements", ["file", "statements loaded", "already loaded", "lines"],
        [[r["file"], r["statements_loaded"], r["statements_skipped"], r["lines_loaded"]] for r in rs])))


@reconcile_app.command("payment-orders")
def payment_orders(
    file: Annotated[Path | None, typer.Argument(help="JSON (list of objects) or CSV of payment orders; default: the landed ones")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load payment orders (new ones and status changes) from FILE, or else those the connector landed, then
    ledger the eligible ones."""
    from ledger_pipeline.reconcile.payment_orders import (
        auto_ledger_payment_orders,
        refresh_payment_orders_from_landing,
        upsert_payment_orders,
    )

    target = open_store(store)
    with handled_errors(files=file):
        orders = None
        if file is not None:
            if not file.exists():
                raise fail(f"{file}: no such file")
            if file.suffix.lower() == ".json":
                try:
                    orders = json.loads(file.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise fail(f"{file}: not JSON ({exc})") from exc
            else:
                import pyarrow.csv as pacsv

                orders = pacsv.read_csv(file, convert_options=pacsv.ConvertOptions(
                    column_types={}, strings_can_be_null=True, auto_dict_encode=False))
        with target.transaction() as conn:
            if orders is not None:
                loaded = upsert_payment_orders(conn, orders)
            else:  # no file: what the payment_orders connector landed (``ingest payment_orders FILE``)
                loaded = refresh_payment_orders_from_landing(conn)
            result = auto_ledger_payment_orders(conn, actor="cli")
    data = {"loaded": loaded, **result.as_dict()}
    emit(data, as_json, lambda d: console.print(
        f"{d['loaded']} payment order(s) loaded or changed; ledger transactions: {d['created']} created, "
        f"{d['transitioned']} status change(s), {d['refused']} refused (see quarantine)."))
    if result.refused:
        raise typer.Exit(EXIT_RULE_BROKEN)


@reconcile_app.command("unmatched")
def unmatched(
    account: InternalAccountOption = None,
    side: Annotated[str | None, typer.Option(help="bank or ledger")] = None,
    limit: Annotated[int, typer.Option(help="At most N rows")] = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open exceptions: bank lines and ledger items left unmatched, oldest first, with their age."""
    from ledger_pipeline.reconcile.queries import list_unmatched

    list_rows(store, list_unmatched, {"account": account, "side": side, "limit": limit}, as_json,
              "Unmatched", ["account", "side", "date", "age (days)", "amount", "reason", "reference", "description",
                            "id"],
              lambda r: [r["internal_account"], r["side"], r["item_date"], r["age_days"], r["amount"], r["reason"],
                         r["reference"], (r["description"] or "")[:40], r["item_id"]],
              right={"amount", "age (days)"})


@reconcile_app.command("matches")
def matches(
    account: InternalAccountOption = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule")] = None,
    limit: Annotated[int, typer.Option(help="At most N rows")] = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Matches with the rule that made each."""
    from ledger_pipeline.reconcile.queries import list_matches

    list_rows(store, list_matches, {"account": account, "rule": rule, "limit": limit}, as_json,
              "Matches", ["id", "account", "rule", "key", "bank lines", "ledger items", "amount", "by"],
              lambda r: [r["id"], r["internal_account"], r["rule"], r["match_key"], r["bank_count"],
                         r["ledger_count"], r["bank_total"], r["created_by"]],
              right={"amount"})


@reconcile_app.command("match-manual")
def match_manual(
    bank_line: Annotated[list[str], typer.Option("--bank-line", help="Bank statement line id (repeatable)")],
    ledger_transaction: Annotated[list[str], typer.Option("--ledger-transaction",
                                                          help="Ledger transaction id or external id (repeatable)")],
    note: Annotated[str | None, typer.Option(help="Why these belong together")] = None,
    allow_difference: Annotated[bool, typer.Option("--allow-difference",
                                                   help="Record it even if the totals differ")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a manual match between bank lines and ledger transactions."""
    from ledger_pipeline.reconcile.matching import record_manual_match

    with store_transaction(store) as conn:
        result = record_manual_match(conn, bank_line_ids=bank_line, ledger_transactions=ledger_transaction,
                                     note=note, actor="cli", allow_difference=allow_difference,
                                     seq=conn.change_seq(), now=datetime.now(UTC))
    emit(result, as_json, lambda d: console.print(f"Recorded manual match {d['match_id']} "
                                                  f"({d['bank_lines']} bank line(s), {d['ledger_transactions']} "
                                                  "ledger transaction(s))."))


@reconcile_app.command("unmatch")
def unmatch(match_id: Annotated[str, typer.Argument(help="Match id (see `reconcile matches`)")], store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Remove a match; its items are reported unmatched by the next run (an automatic one may be made again)."""
    from ledger_pipeline.reconcile.matching import remove_match

    with store_transaction(store) as conn:
        removed = remove_match(conn, match_id)
    if not removed:
        raise fail(f"match {match_id} not found")
    emit({"removed": match_id}, as_json, lambda d: console.print(f"Removed match {d['removed']}."))
