"""The ``demo`` command: the whole pipeline on the bundled scenario, with a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger_pipeline.cli.support import EXIT_RULE_BROKEN, JsonOption, StoreOption, console, emit, table
from ledger_pipeline.redact import redact_url

# The demo runner is imported inside the command: it loads pyarrow and the store (see ``cli.ledger``).


def _short(text: str | None, width: int = 90) -> str:
    text = (text or "").split("; ")[0]
    return text if len(text) <= width else text[: width - 1] + "…"


def render(result: dict) -> None:
    status = "[green]succeeded[/green]" if result["success"] else "[red]FAILED[/red]"
    console.print(f"\n[bold]Northwind Market demo[/bold] {status} in {result['seconds']} s "
                  f"(Dagster run {result['dagster_run_id'][:8]})")
    console.print(f"store: {redact_url(result['store'])}\nwarehouse: {result['warehouse']}\nscenario files: {result['landing']}\n")
    console.print(table("Records ingested", ["source", "records"],
                        [[k, v] for k, v in result["records_ingested"].items()], right={"records"}))
    console.print(table("Ledger", ["transactions posted", "pending", "archived", "entries"], [[
        result["transactions"].get("posted", 0), result["transactions"].get("pending", 0),
        result["transactions"].get("archived", 0), result["entries"]]]))
    console.print(table(f"Quarantined ({len(result['quarantined'])})", ["reason_code", "source", "external_id", "reason"],
                        [[q["reason_code"], q["source"], q["external_id"], _short(q["reason"])] for q in result["quarantined"]]))
    checks = result["checks"]
    console.print(f"Asset checks passed: [bold]{checks['passed']}/{checks['total']}[/bold]"
                  + (f"  failed: {', '.join(checks['failed'])}" if checks["failed"] else ""))
    if result["reconciliation"]:
        for key, metadata in result["reconciliation"].items():
            shown = {k: v for k, v in metadata.items() if not isinstance(v, dict | list)}
            console.print(f"Reconciliation {key}: {shown}")
    if result["warehouse_rows"]:
        console.print(table("Rows synced to the warehouse", ["table", "rows"],
                            [[k, v] for k, v in result["warehouse_rows"].items()], right={"rows"}))
    if result["reporting"]:
        console.print(f"Reporting models built: {len(result['reporting'])}")
    if result["not_run"]:
        console.print(f"[yellow]Not materialized:[/yellow] {', '.join(result['not_run'])}")
    console.print("\nWhere to look next:")
    for step in result["next_steps"]:
        console.print(f"  - {step}")


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        seed: Annotated[int, typer.Option(help="Seed of the generated scenario (same seed, same files).")] = 0,
        warehouse: Annotated[Path | None, typer.Option(help="DuckDB warehouse file (default: var/warehouse.duckdb)")] = None,
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run the whole pipeline (ingest, ledger, checks, reconciliation, warehouse sync, reports) on a bundled
        marketplace scenario, in process, and print what happened."""
        from ledger_pipeline.demo.runner import run_demo
        from ledger_pipeline.demo.scenario import DEFAULT_SEED

        result = run_demo(seed=seed or DEFAULT_SEED, store_url=store, warehouse_path=warehouse).as_dict()
        emit(result, as_json, render)
        if not result["success"]:
            raise typer.Exit(EXIT_RULE_BROKEN)
