"""``ledger-pipeline serve`` (the HTTP API) and ``ledger-pipeline api-keys create|list|revoke``."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ledger_pipeline.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_UNREACHABLE,
    JsonOption,
    StoreOption,
    console,
    emit,
    fail,
    list_rows,
    open_store,
    store_transaction,
)

# Domain modules, FastAPI and uvicorn are imported inside the commands (see ``cli.ledger``).

keys_app = typer.Typer(help="API keys for the HTTP API: create, list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted (413 above).")] = 1024 * 1024,
    print_openapi: Annotated[bool, typer.Option("--print-openapi",
                                                help="Print the OpenAPI document and exit.")] = False,
    webhooks: Annotated[bool, typer.Option("--webhooks/--no-webhooks",
                                           help="Deliver outbound webhooks in the background.")] = True,
    webhook_poll_s: Annotated[float, typer.Option("--webhook-poll-s", help="How often the webhook worker "
                                                                           "looks for new events.")] = 1.0,
    webhook_backoff_s: Annotated[float, typer.Option("--webhook-backoff-s", help="Wait after a first failed "
                                                     "delivery attempt, doubling per attempt.")] = 1.0,
    webhook_backoff_max_s: Annotated[float, typer.Option("--webhook-backoff-max-s", help="Longest wait between "
                                                         "delivery attempts.")] = 300.0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="Log one line per request.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (PostgreSQL only; a DuckDB file has "
                                                     "one writing process).")] = 1,
    key_cache_s: Annotated[float, typer.Option("--key-cache-s", min=0.0,
                                               help="Seconds a verified API key is trusted before it is looked "
                                                    "up again (a revocation takes effect within it; 0: at once)."
                                               )] = 1.0,
    store: StoreOption = None,
) -> None:
    """Serve the HTTP API (ledgers, accounts and balances, transactions, entries...) over the store, and
    deliver its outbound webhooks in the background."""
    if print_openapi:
        from ledger_pipeline.api.app import openapi_document

        typer.echo(json.dumps(openapi_document(), indent=2))  # the document itself, not an envelope
        return
    import uvicorn

    from ledger_pipeline.api.app import app_environment, create_app, freeze_startup_objects

    target = open_store(store)
    try:
        with target.connect() as conn:
            conn.scalar("SELECT count(*) FROM api_keys")
    except Exception as exc:  # noqa: BLE001 - not reachable, or not a store at the current revision
        raise fail(f"{target.redacted_url} is not a store with the API's tables ({str(exc).splitlines()[0]}); "
                   "run `ledger-pipeline init` or `ledger-pipeline migrate`", EXIT_UNREACHABLE) from exc
    if workers > 1 and target.engine.one_writing_process:
        raise fail("--workers above 1 needs PostgreSQL: a DuckDB file takes one writing process",
                   EXIT_BAD_INPUT)
    worker = None
    if webhooks:
        from ledger_pipeline.api.webhooks import Backoff, DeliveryWorker

        worker = DeliveryWorker(target.url, poll_s=webhook_poll_s,
                                backoff=Backoff(webhook_backoff_s, webhook_backoff_max_s))
        worker.start()
    try:
        if workers == 1:
            app = create_app(target.url, max_body_bytes=max_body_bytes, key_cache_s=key_cache_s)
            freeze_startup_objects()
            uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
        else:  # each process builds the app from the environment (uvicorn starts them by import path)
            os.environ.update(app_environment(target.url, max_body_bytes=max_body_bytes, key_cache_s=key_cache_s))
            uvicorn.run("ledger_pipeline.api.app:app_from_environment", factory=True, workers=workers, host=host,
                        port=port, log_level="info", access_log=access_log)
    finally:
        if worker is not None:
            worker.stop()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists and the audit log).")],
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read or write (write includes read)")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key; its token is printed once and only its sha256 hash is stored."""
    from ledger_pipeline.api.keys import create_key

    with store_transaction(store) as conn:
        key, token = create_key(conn, name, scope or ["read"])
    emit({"id": key.id, "name": key.name, "scopes": sorted(key.scopes), "token": token}, as_json,
         lambda _: console.print(f"API key {key.id} ({' '.join(sorted(key.scopes))}); token, shown once:\n{token}"))


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """API keys (never their tokens)."""
    from ledger_pipeline.api.keys import list_keys

    list_rows(store, list_keys, {"include_revoked": all_keys}, as_json, "API keys",
              ["id", "name", "scopes", "created_at", "revoked_at"],
              lambda r: [r["id"], r["name"], r["scopes"], r["created_at"], r["revoked_at"]])


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id")], store: StoreOption = None) -> None:
    """Revoke an API key: it no longer authenticates."""
    from ledger_pipeline.api.keys import revoke_key

    with store_transaction(store) as conn:
        revoke_key(conn, key_id)
    console.print(f"Revoked API key {key_id}.")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="api-keys")
