"""``ledger-pipeline quarantine list|replay|discard``: records that could not be posted."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger_pipeline.cli.ledger import render_batch
from ledger_pipeline.cli.support import (
    EXIT_RULE_BROKEN,
    JsonOption,
    StoreOption,
    console,
    emit,
    fail,
    handled_errors,
    list_rows,
    open_store,
    store_transaction,
)

# Domain modules are imported inside the commands (see ``cli.ledger``).

QUARANTINE_STATUSES = ("open", "replayed", "discarded", "all")

quarantine_app = typer.Typer(help="Records that could not be posted: list, replay and discard.", no_args_is_help=True)


@quarantine_app.command("list")
def quarantine_list(
    status: Annotated[str, typer.Option(help="open, replayed, discarded or all")] = "open",
    reason: Annotated[str | None, typer.Option(help="Only this reason code")] = None,
    limit: Annotated[int, typer.Option(help="At most N items, oldest first")] = 100,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Quarantined transactions with their reason and where they came from."""
    from ledger_pipeline.ledger.quarantine import list_quarantine

    if status not in QUARANTINE_STATUSES:
        raise fail(f"--status {status!r}: choose one of {', '.join(QUARANTINE_STATUSES)}")

    list_rows(store, list_quarantine,
              {"status": None if status == "all" else status, "reason_code": reason, "limit": limit}, as_json,
              "Quarantine", ["reason_code", "external_id", "record", "attempts", "status", "reason"],
              lambda r: [r["reason_code"], r["external_id"], r["record_ref"], r["attempts"], r["status"],
                         r["reason"]])


@quarantine_app.command("replay")
def quarantine_replay(
    reason: Annotated[str | None, typer.Option(help="Only items with this reason code")] = None,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Only these quarantine ids")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay open quarantine items after fixing their cause (mapping, chart of accounts...)."""
    from ledger_pipeline.ledger.quarantine import replay_quarantine

    target = open_store(store)
    with handled_errors():
        result = replay_quarantine(target, ids=ids, reason_code=reason, actor="cli")
    emit(result.as_dict(), as_json, lambda _: (
        console.print(f"Replayed {result.replayed} item(s); {result.transactions_in - result.replayed} still open."),
        render_batch(result, "Replay"),
    ))
    if result.reason_counts:
        raise typer.Exit(EXIT_RULE_BROKEN)


@quarantine_app.command("discard")
def quarantine_discard(
    quarantine_id: Annotated[str, typer.Argument(metavar="ID", help="Quarantine item id (see `quarantine list`)")],
    reason: Annotated[str, typer.Option(help="Why the record will never post (kept with it and in the audit log)")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Discard an open item that can never post: it is kept, marked discarded with the reason, and no longer
    replayed."""
    from ledger_pipeline.ledger.admin import discard_quarantined

    with store_transaction(store) as conn:
        discard_quarantined(conn, quarantine_id, reason, actor="cli")
    emit({"id": quarantine_id, "status": "discarded", "reason": reason}, as_json,
         lambda d: console.print(f"Quarantine item {d['id']} discarded."))


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
