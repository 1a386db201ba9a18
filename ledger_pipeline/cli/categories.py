"""The ``categories`` group: ledger account categories and their hierarchy (``create``, ``list``, ``show``,
``update``, ``archive``, ``add-account``, ``remove-account``, ``add-child``, ``remove-child``, ``balance``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape

from ledger_pipeline.cli.ledger import (
    TIME_FORMATS,
    NewDescriptionOption,
    SetMetadataOption,
    _utc,
    metadata_pairs,
    update_described,
)
from ledger_pipeline.cli.support import (
    JsonOption,
    LedgerFilterOption,
    StoreOption,
    console,
    emit,
    fail,
    list_rows,
    open_store,
    read,
    show_rows,
    store_transaction,
    table,
)
from ledger_pipeline.ledger.money import format_amount

# Domain modules are imported inside the commands (see cli/ledger.py: `--help` stays fast).

categories_app = typer.Typer(
    help="Ledger account categories: a category holds accounts and other categories, and its balance rolls "
         "up every account it reaches.", no_args_is_help=True)

CategoryArgument = Annotated[str, typer.Argument(help="Category name or id")]
LedgerOption = Annotated[str, typer.Option(help="Ledger of the category")]
AsOfOption = Annotated[datetime | None, typer.Option(
    "--as-of", help="Effective time of the balances (ISO 8601, UTC if no zone)", formats=TIME_FORMATS)]


def _money(row: dict[str, Any], kind: str) -> str:
    amount = row[f"{kind}_amount"]
    if row["currency_exponent"] is None:  # a category without a currency that reaches no account
        return str(amount)
    return format_amount(amount, row["currency_exponent"], row["currency"])


@categories_app.command("create")
def category_create(
    name: Annotated[str, typer.Argument(help="Category name, unique in its ledger")],
    normal_balance: Annotated[str, typer.Option("--normal-balance", help="credit or debit: the sign of its balance")],
    currency: Annotated[str | None, typer.Option(
        help="Only accounts of this currency may join (default: any; balances are then per currency)")] = None,
    description: Annotated[str | None, typer.Option(help="What the category is for")] = None,
    parent: Annotated[list[str] | None, typer.Option(
        "--parent", help="Put the new category under this category (repeatable)")] = None,
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", help="Metadata KEY=VALUE (repeatable)")] = None,
    ledger: LedgerOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a category (a no-op if it exists with the same normal balance and currency)."""
    from ledger_pipeline.ledger.categories import CategorySpec, add_child, ensure_category

    spec = CategorySpec(name=name, normal_balance=normal_balance, currency=currency, description=description,
                        metadata=metadata_pairs(metadata))
    with store_transaction(store) as conn:
        category_id = ensure_category(conn, ledger, spec, actor="cli")
        for up in parent or []:
            add_child(conn, ledger, up, category_id, actor="cli")
    emit({"id": category_id, "ledger": ledger, "name": name, "parents": parent or []}, as_json,
         lambda d: console.print(f"Category [bold]{escape(name)}[/bold] in ledger {ledger}: {d['id']}"))


@categories_app.command("list")
def category_list(
    ledger: LedgerFilterOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """List categories with their parents, children and the number of accounts each holds directly."""
    from ledger_pipeline.ledger.categories import list_categories

    list_rows(store, list_categories, {"ledger": ledger}, as_json, "Ledger account categories",
              ["ledger", "name", "normal", "currency", "parents", "children", "accounts", "archived"],
              lambda r: [r["ledger"], r["name"], r["normal_balance"], r["currency"] or "any",
                         ", ".join(r["parents"]), ", ".join(r["children"]), r["accounts"],
                         "yes" if r["archived_at"] else ""], right={"accounts"})


@categories_app.command("show")
def category_show(
    name: CategoryArgument,
    as_of: AsOfOption = None,
    ledger: LedgerOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One category: its definition, parents, children, accounts (direct and reachable) and balances."""
    from ledger_pipeline.ledger.categories import category_detail

    row = read(open_store(store), category_detail, ledger=ledger, category=name, as_of=_utc(as_of))

    def show(r: dict) -> None:
        console.print(table(f"Category {r['name']} ({r['ledger']})", ["", "value"], [
            ["id", r["id"]], ["normal balance", r["normal_balance"]], ["currency", r["currency"] or "any"],
            ["description", r["description"]], ["metadata", json.dumps(r["metadata"], sort_keys=True)],
            ["archived", r["archived_at"] or ""], ["parents", ", ".join(r["parents"])],
            ["children", ", ".join(r["children"])], ["accounts", ", ".join(r["accounts"])],
            ["reachable accounts", len(r["reachable_accounts"])],
            *[[f"{b['currency'] or ''} {kind}", _money(b, kind)] for b in r["balances"]
              for kind in ("posted", "pending", "available")]]))

    emit(row, as_json, show)


@categories_app.command("update")
def category_update(
    name: CategoryArgument,
    description: NewDescriptionOption = None,
    metadata: SetMetadataOption = None,
    ledger: LedgerOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a category's description or metadata (its normal balance and currency never change)."""
    from ledger_pipeline.ledger.categories import update_category

    update_described(store, as_json, update_category, ledger, name, description, metadata, "Category")


@categories_app.command("archive")
def category_archive(
    name: CategoryArgument,
    ledger: LedgerOption = "main",
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Archive a category: it keeps its members and balances but takes no new ones."""
    from ledger_pipeline.ledger.categories import archive_category

    with store_transaction(store) as conn:
        category_id = archive_category(conn, ledger, name, actor="cli")
    emit({"id": category_id, "ledger": ledger, "name": name, "archived": True}, as_json,
         lambda d: console.print(f"Category [bold]{escape(name)}[/bold] archived."))


def _membership_command(command: str, change_name: str, member_help: str, kind: str, verb: str,
                        doc: str) -> None:
    """Register one of the four membership commands (an account or a category put in or taken out of a
    category); ``change_name`` is the function of ``ledger.categories`` that makes the change."""

    def change_membership(
        name: CategoryArgument,
        member: str,
        ledger: LedgerOption = "main",
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from ledger_pipeline.ledger import categories

        with store_transaction(store) as conn:
            changed = getattr(categories, change_name)(conn, ledger, name, member, actor="cli")
        emit({"ledger": ledger, "category": name, kind: member, "changed": changed}, as_json,
             lambda d: console.print(f"{kind.capitalize()} [bold]{escape(member)}[/bold] "
                                     f"{verb if changed else 'already ' + verb} [bold]{escape(name)}[/bold]."))

    change_membership.__doc__ = doc
    # a real object, not a string: the help text differs per command and is not a module-level name
    change_membership.__annotations__["member"] = Annotated[str, typer.Argument(
        metavar="ACCOUNT" if kind == "account" else "CHILD", help=member_help)]
    categories_app.command(command)(change_membership)


_membership_command("add-account", "add_account", "Account name or id (of the category's ledger)", "account", "in",
                    "Put an account in a category (a no-op if it is there; an account may sit in several categories).")
_membership_command("remove-account", "remove_account", "Account name or id", "account", "out of",
                    "Take an account out of a category (the membership is kept, marked removed).")
_membership_command("add-child", "add_child", "Name or id of the category to nest under it", "category", "under",
                    "Nest a category in another (refused if it would make a cycle or mix currencies).")
_membership_command("remove-child", "remove_child", "Name or id of the nested category", "category", "out of",
                    "Take a nested category out of its parent (the link is kept, marked removed).")


@categories_app.command("balance")
def category_balance(
    name: Annotated[str | None, typer.Argument(help="Category name or id (default: every category)")] = None,
    as_of: AsOfOption = None,
    ledger: LedgerFilterOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Posted, pending and available balances of categories: every account reached through the hierarchy,
    each counted once, one row per currency (now, or as of an effective time)."""
    from ledger_pipeline.ledger.categories import category_balances

    rows = read(open_store(store), category_balances, ledger=ledger, category=name, as_of=_utc(as_of))
    if name and not rows:
        raise fail(f"category {name!r} not found" + (f" in ledger {ledger!r}" if ledger else ""))
    show_rows(rows, as_json, "Category balances" + (f" as of {_utc(as_of).isoformat()}" if as_of else ""),
              ["ledger", "category", "normal", "currency", "accounts", "posted", "pending", "available"],
              lambda r: [r["ledger"], r["category"], r["normal_balance"], r["currency"] or "", r["accounts"],
                         _money(r, "posted"), _money(r, "pending"), _money(r, "available")],
              right={"accounts", "posted", "pending", "available"})


def register(app: typer.Typer) -> None:
    app.add_typer(categories_app, name="categories")
