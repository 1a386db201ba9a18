"""``ledger-pipeline webhooks add|list|remove|deliver``: outbound webhooks of the ``events`` table."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger_pipeline.cli.support import (
    EXIT_UNREACHABLE,
    JsonOption,
    StoreOption,
    console,
    emit,
    handled_errors,
    list_rows,
    open_store,
    store_transaction,
)

# Domain modules are imported inside the commands (see ``cli.ledger``).

webhooks_app = typer.Typer(help="Outbound webhooks: where events are delivered, and their delivery.",
                           no_args_is_help=True)

BackoffOption = Annotated[float, typer.Option("--backoff-s", help="Wait after a first failed attempt, doubling "
                                                                  "per attempt.")]
BackoffMaxOption = Annotated[float, typer.Option("--backoff-max-s", help="Longest wait between attempts.")]


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="The receiver's URL (http:// or https://)")],
    event: Annotated[list[str] | None, typer.Option("--event", help="An event type to deliver (repeatable; "
                                                                     "default: every event)")] = None,
    secret: Annotated[str | None, typer.Option(help="The signing secret (default: a new random one)")] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="Also deliver every event already in the "
                                                                  "store")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver events to a URL, signed with a secret (printed once here; keep it with the receiver)."""
    from ledger_pipeline.api.webhooks import add_endpoint

    with store_transaction(store) as conn:
        endpoint = add_endpoint(conn, url, event, secret=secret, from_start=from_start)
    emit(endpoint, as_json, lambda e: console.print(
        f"Webhook endpoint {e['id']} for {', '.join(e['event_types'])}; signing secret:\n{e['secret']}"))


@webhooks_app.command("list")
def webhooks_list(
    all_endpoints: Annotated[bool, typer.Option("--all", help="Include removed endpoints")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Endpoints with their delivery state (events delivered, failed attempts, next try, last error)."""
    from ledger_pipeline.api.webhooks import list_endpoints

    list_rows(store, list_endpoints, {"include_removed": all_endpoints}, as_json, "Webhook endpoints",
              ["id", "url", "events", "delivered", "attempts", "next_attempt_at", "last_error"],
              lambda r: [r["id"], r["url"], r["event_types"], r["delivered"], r["attempts"], r["next_attempt_at"],
                         r["last_error"]])


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id")],
                    store: StoreOption = None) -> None:
    """Stop delivering to an endpoint."""
    from ledger_pipeline.api.webhooks import remove_endpoint

    with store_transaction(store) as conn:
        remove_endpoint(conn, endpoint_id)
    console.print(f"Removed webhook endpoint {endpoint_id}.")


@webhooks_app.command("deliver")
def webhooks_deliver(
    backoff_s: BackoffOption = 1.0,
    backoff_max_s: BackoffMaxOption = 300.0,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="Per request")] = 10.0,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver the pending events of every endpoint that is due, once (``serve`` does it in the background).
    Exit code 3 when a receiver could not be reached or refused an event (it is retried later)."""
    from ledger_pipeline.api.webhooks import Backoff, deliver_pending

    target = open_store(store)
    with handled_errors():
        report = deliver_pending(target, backoff=Backoff(backoff_s, backoff_max_s), timeout_s=timeout_s)
    emit(report.as_dict(), as_json, lambda r: console.print(
        f"Delivered {r['delivered']} event(s); {r['failed']} endpoint(s) failed."
        + "".join(f"\n  {e}" for e in r["errors"]), markup=False))
    if report.failed:
        raise typer.Exit(EXIT_UNREACHABLE)


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app, name="webhooks")
