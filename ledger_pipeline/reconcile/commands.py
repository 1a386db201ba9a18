"""``ledger-pipeline reconcile``: run a reconciliation and look at its results; set up the bank side.

``ledger-pipeline reconcile [--account NAME] [--json]`` runs one reconciliation (payment order ledgering,
variances, matching) and prints the variances and what was matched; it exits with 1 when a variance
exceeds ``--tolerance`` (minor units, default 0). Subcommands set up internal/external accounts, load
bank statements and payment orders, list matches and exceptions, and record or remove manual matches.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer
from rich.markup import escape

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
    table,
)
from ledger_pipeline.ledger.money import format_amount
from ledger_pipeline.reconcile.runner import DEFAULT_WINDOW_DAYS, ReconResult, run_reconciliation

reconcile_app = typer.Typer(
    help="Reconcile the ledger with bank statements and processors (run with no subcommand to reconcile).",
    invoke_without_command=True,
)
internal_app = typer.Typer(help="Internal accounts (the company's bank accounts).", no_args_is_help=True)
external_app = typer.Typer(help="External accounts (counterparties).", no_args_is_help=True)
reconcile_app.add_typer(internal_app, name="internal-account")
reconcile_app.add_typer(external_app, name="external-account")

DateOption = Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                     help="Date the age of unmatched items is counted at (default today)")]


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")


def _exponents(store) -> dict[str, int]:
    with store.connect(read_only=True) as conn:
        return dict(conn.all("SELECT DISTINCT currency, currency_exponent FROM ledger_accounts"))


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
    target = open_store(store)
    with handled_errors():
        result = run_reconciliation(target, account=account, as_of=as_of.date() if as_of else None,
                                    window_days=window_days, rematch=rematch, actor="cli")
        exponents = _exponents(target)
    data = result.as_dict()
    data["breaches"] = [v.as_dict() for v in result.breaches(tolerance)]
    emit(data, as_json, lambda _: _render(result, exponents, tolerance))
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


@internal_app.command("create")
def internal_create(
    name: str,
    identifier: Annotated[str, typer.Option(help="Account number / IBAN as the bank's statements write it")],
    currency: Annotated[str, typer.Option()],
    ledger_account: Annotated[str | None, typer.Option("--ledger-account", help="Link this ledger account")] = None,
    ledger: Annotated[str, typer.Option(help="Ledger of --ledger-account")] = "main",
    bank_name: Annotated[str | None, typer.Option("--bank-name")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an internal account (idempotent), optionally linked to a ledger account."""
    from ledger_pipeline.reconcile.accounts import INTERNAL, ensure_internal_account, link_ledger_account

    target = open_store(store)
    with handled_errors(), target.transaction() as conn:
        account_id = ensure_internal_account(conn, name, identifier, currency, bank_name=bank_name, actor="cli")
        linked = link_ledger_account(conn, ledger_account, INTERNAL, account_id, ledger=ledger, actor="cli") \
            if ledger_account else None
    emit({"id": account_id, "name": name, "ledger_account_id": linked}, as_json,
         lambda d: console.print(f"Internal account [bold]{name}[/bold]: {d['id']}"
                                 + (f" (linked to {ledger_account})" if linked else "")))


@external_app.command("create")
def external_create(
    name: str,
    currency: Annotated[str, typer.Option()],
    ledger_account: Annotated[str | None, typer.Option("--ledger-account", help="Link this ledger account")] = None,
    ledger: Annotated[str, typer.Option(help="Ledger of --ledger-account")] = "main",
    party_name: Annotated[str | None, typer.Option("--party-name")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an external account (idempotent), optionally linked to a ledger account."""
    from ledger_pipeline.reconcile.accounts import EXTERNAL, ensure_external_account, link_ledger_account

    target = open_store(store)
    with handled_errors(), target.transaction() as conn:
        account_id = ensure_external_account(conn, name, currency, party_name=party_name, actor="cli")
        linked = link_ledger_account(conn, ledger_account, EXTERNAL, account_id, ledger=ledger, actor="cli") \
            if ledger_account else None
    emit({"id": account_id, "name": name, "ledger_account_id": linked}, as_json,
         lambda d: console.print(f"External account [bold]{name}[/bold]: {d['id']}"))


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
    from ledger_pipeline.ingest.commands import _options
    from ledger_pipeline.reconcile.statements import load_statement_file

    target = open_store(store)
    results = []
    options = _options(option)
    with handled_errors():
        for path in files:
            if not path.exists():
                err_console.print(f"[red]error:[/red] {path}: no such file")
                raise typer.Exit(EXIT_BAD_INPUT)
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
    with handled_errors():
        orders = None
        if file is not None:
            if not file.exists():
                err_console.print(f"[red]error:[/red] {file}: no such file")
                raise typer.Exit(EXIT_BAD_INPUT)
            if file.suffix.lower() == ".json":
                try:
                    orders = json.loads(file.read_text(encoding="utf-8"))
                except ValueError as exc:
                    err_console.print(f"[red]error:[/red] {file}: not JSON ({exc})")
                    raise typer.Exit(EXIT_BAD_INPUT) from exc
            else:
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
    account: Annotated[str | None, typer.Option(help="Internal account (name or id)")] = None,
    side: Annotated[str | None, typer.Option(help="bank or ledger")] = None,
    limit: int = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open exceptions: bank lines and ledger items left unmatched, oldest first, with their age."""
    target = open_store(store)
    with handled_errors(), target.connect(read_only=True) as conn:
        rows = conn.dicts(
            "SELECT i.name AS internal_account, u.side, u.item_id, u.item_date, u.amount, u.currency, u.reference, "
            "u.description, u.reason, u.age_days, u.as_of FROM recon_unmatched u "
            "JOIN internal_accounts i ON i.id = u.internal_account_id WHERE u.status = 'open' "
            "AND (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account) "
            "AND (CAST(:side AS TEXT) IS NULL OR u.side = :side) "
            f"ORDER BY u.item_date, u.side, u.item_id LIMIT {int(limit)}", {"account": account, "side": side})
    for row in rows:
        row["amount"] = int(row["amount"])
    emit(rows, as_json, lambda rs: console.print(table(
        "Unmatched", ["account", "side", "date", "age (days)", "amount", "reason", "reference", "description", "id"],
        [[r["internal_account"], r["side"], r["item_date"], r["age_days"], r["amount"], r["reason"], r["reference"],
          (r["description"] or "")[:40], r["item_id"]] for r in rs], right={"amount", "age (days)"})))


@reconcile_app.command("matches")
def matches(
    account: Annotated[str | None, typer.Option(help="Internal account (name or id)")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule")] = None,
    limit: int = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Matches with the rule that made each."""
    target = open_store(store)
    with handled_errors(), target.connect(read_only=True) as conn:
        rows = conn.dicts(
            "SELECT m.id, i.name AS internal_account, m.rule, m.match_key, m.bank_count, m.ledger_count, m.bank_total, "
            "m.ledger_total, m.created_by, m.note, m.created_at FROM recon_matches m "
            "JOIN internal_accounts i ON i.id = m.internal_account_id "
            "WHERE (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account) "
            "AND (CAST(:rule AS TEXT) IS NULL OR m.rule = :rule) "
            f"ORDER BY m.created_at DESC, m.id LIMIT {int(limit)}", {"account": account, "rule": rule})
    for row in rows:
        row["bank_total"], row["ledger_total"] = int(row["bank_total"]), int(row["ledger_total"])
    emit(rows, as_json, lambda rs: console.print(table(
        "Matches", ["id", "account", "rule", "key", "bank lines", "ledger items", "amount", "by"],
        [[r["id"], r["internal_account"], r["rule"], r["match_key"], r["bank_count"], r["ledger_count"],
          r["bank_total"], r["created_by"]] for r in rs], right={"amount"})))


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

    target = open_store(store)
    with handled_errors(), target.transaction() as conn:
        result = record_manual_match(conn, bank_line_ids=bank_line, ledger_transactions=ledger_transaction,
                                     note=note, actor="cli", allow_difference=allow_difference,
                                     seq=conn.change_seq(), now=datetime.now(UTC))
    emit(result, as_json, lambda d: console.print(f"Recorded manual match {d['match_id']} "
                                                  f"({d['bank_lines']} bank line(s), {d['ledger_transactions']} "
                                                  "ledger transaction(s))."))


@reconcile_app.command("unmatch")
def unmatch(match_id: str, store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Remove a match; its items are reported unmatched by the next run (an automatic one may be made again)."""
    from ledger_pipeline.reconcile.matching import remove_match

    target = open_store(store)
    with handled_errors(), target.transaction() as conn:
        removed = remove_match(conn, match_id)
    if not removed:
        err_console.print(f"[red]error:[/red] match {match_id} not found")
        raise typer.Exit(EXIT_BAD_INPUT)
    emit({"removed": match_id}, as_json, lambda d: console.print(f"Removed match {d['removed']}."))
