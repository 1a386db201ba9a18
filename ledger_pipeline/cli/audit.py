"""``ledger-pipeline audit list``: who changed what in the ledger, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from ledger_pipeline.cli.support import JsonOption, StoreOption, list_rows

# Domain modules are imported inside the commands (see ``cli.ledger``).

audit_app = typer.Typer(help="The audit log: every change with its actor.", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    object_type: Annotated[str | None, typer.Option("--object-type",
                                                    help="Only this kind of object (ledger_account, quarantine...)")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id", help="Only this object's rows")] = None,
    actor: Annotated[str | None, typer.Option(help="Only changes by this actor (cli, api, replay...)")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (create, archive, discard...)")] = None,
    since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                   help="Only rows at or after this time (UTC)")] = None,
    limit: Annotated[int, typer.Option(help="At most N rows, newest first")] = 50,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit log rows, newest first."""
    from ledger_pipeline.ledger.queries import list_audit

    list_rows(store, list_audit, {"object_type": object_type, "object_id": object_id, "actor": actor,
                                  "action": action, "since": since.replace(tzinfo=UTC) if since else None,
                                  "limit": limit}, as_json,
              "Audit log", ["occurred_at", "actor", "action", "object", "detail"],
              lambda r: [r["occurred_at"], r["actor"], r["action"], f"{r['object_type']} {r['object_id'] or ''}",
                         json.dumps(r["detail"], sort_keys=True, default=str)[:80]])


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
