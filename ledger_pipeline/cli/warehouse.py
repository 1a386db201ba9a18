"""``ledger-pipeline sync --target NAME [--continuous]``: push the ledger's changes to a warehouse target.

Exit codes: 0 synced; 2 bad usage (unknown target, bad targets file, missing secret env variable);
3 the destination stayed unreachable after the retries (a scheduler may simply try again later).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import (
    JsonOption,
    StoreOption,
    console,
    emit,
    err_console,
    error_exit,
    fail,
    open_store,
    progress_hook,
)
from ledger_pipeline.cli.support import table as render_table
from ledger_pipeline.redact import redact_url

# Domain modules are imported inside the command (see ``cli.ledger``).

EXIT_DESTINATION_DOWN = 3
DEFAULT_INTERVAL_S = 30.0  # keeps the warehouse within a minute of the ledger


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    target: Annotated[str, typer.Option("--target", "-t", help="Target name from the targets file (default: local)")] = "local",
    config: Annotated[Path | None, typer.Option("--config", envvar="LEDGER_WAREHOUSE_CONFIG",
                                                 help="Targets file (YAML or TOML); default warehouse.yaml")] = None,
    continuous: Annotated[bool, typer.Option("--continuous", help="Keep syncing every --interval seconds")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between syncs with --continuous")] = DEFAULT_INTERVAL_S,
    tables: Annotated[list[str] | None, typer.Option("--table", help="Only these tables (repeatable)")] = None,
    max_runs: Annotated[int | None, typer.Option(hidden=True, help="Stop --continuous after N runs")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push what changed in the ledger since the target's last acknowledged position (exactly once)."""
    from ledger_pipeline.warehouse import ConfigError, DestinationUnavailable, load_targets, sync_target
    from ledger_pipeline.warehouse.tables import TABLES_BY_NAME

    source = open_store(store)
    try:
        targets = load_targets(config)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if target not in targets:
        raise fail(f"unknown target {target!r}; configured: {', '.join(sorted(targets))}")
    unknown = sorted(set(tables or ()) - set(TABLES_BY_NAME))
    if unknown:
        raise fail(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES_BY_NAME)}")

    runs = 0
    while True:
        runs += 1
        try:
            with progress_hook(f"sync to {target}", as_json) as hook:
                result = sync_target(source, targets[target], tables=tables, progress=hook)
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        except DestinationUnavailable as exc:
            err_console.print(f"[red]destination unavailable:[/red] {escape(redact_url(str(exc)))}")
            if not continuous or (max_runs is not None and runs >= max_runs):
                raise typer.Exit(EXIT_DESTINATION_DOWN) from exc
        except Exception as exc:  # noqa: BLE001 - the store's errors, an invalid schema name: one line, an exit code
            raise error_exit(exc) from exc
        else:
            emit(result.as_dict(), as_json, lambda d: console.print(render_table(
                f"Sync to {d['target']} ({redact_url(d['destination'])}) in {d['duration_s']}s",
                ["table", "rows", "from_position", "to_position"],
                [[t["table"], t["rows"], t["from_position"], t["to_position"]] for t in d["tables"]],
                right={"rows", "from_position", "to_position"})))
        if not continuous or (max_runs is not None and runs >= max_runs):
            return
        time.sleep(max(0.0, interval))
