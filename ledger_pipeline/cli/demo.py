"""The ``demo`` command: the whole pipeline on the bundled scenario, one line per step as it goes, then a
summary of what this run changed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import EXIT_RULE_BROKEN, JsonOption, StoreOption, console, emit, table
from ledger_pipeline.paths import relative_path
from ledger_pipeline.redact import redact_url

# The demo runner is imported inside the command: it loads pyarrow and the store (see ``cli.ledger``).


def show_step(event: str, detail: Mapping[str, Any]) -> None:
    """One line per event of the run, printed as it happens."""
    if event == "setup":
        console.print(f"Scenario: {detail['files']} files generated; Dagster's and dbt's log: "
                      f"{relative_path(detail['log'])}", soft_wrap=True, highlight=False)
    elif event == "step":
        mark = "[green]ok[/green]    " if detail["status"] == "ok" else "[red]FAILED[/red]"
        assets = f", {detail['assets']} asset(s)" if detail["assets"] else ""
        seconds = f"{detail['seconds']} s" if detail["seconds"] is not None else ""
        console.print(f"  {mark} {escape(detail['step'])} ({seconds}{assets})", soft_wrap=True, highlight=False)


def _reason(text: str | None) -> str:
    """A quarantine reason in full, each distinct part once (a transaction refused on two of its rows for
    the same rule gives the same part twice)."""
    return "; ".join(dict.fromkeys((text or "").split("; ")))


def _scalars(metadata: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A materialization's metadata as (name, value) rows: nested values one level deep, by dotted name."""
    rows: list[tuple[str, Any]] = []
    for key, value in metadata.items():
        if key.startswith("dagster/"):
            continue
        if isinstance(value, Mapping):
            rows.extend((f"{key}.{k}", v) for k, v in value.items() if not isinstance(v, Mapping | list))
        elif not isinstance(value, list):
            rows.append((key, value))
    return rows


def render(result: dict) -> None:
    status = "[green]succeeded[/green]" if result["success"] else "[red]FAILED[/red]"
    console.print(f"\n[bold]Northwind Market demo[/bold] {status} in {result['seconds']} s "
                  f"(Dagster run {result['dagster_run_id'][:8]})")
    console.print(f"store: {redact_url(result['store'])}\nwarehouse: {result['warehouse']}\n"
                  f"scenario files: {result['landing']}\nlog: {result['log']}\n", highlight=False)
    console.print(table("Records ingested (this run)", ["source", "records"],
                        [[k, v] for k, v in result["records_ingested"].items()] or [["(none new)", 0]],
                        right={"records"}))
    tx = result["transactions"]
    console.print(table("Ledger changes (this run)", ["transactions posted", "pending", "archived", "entries"],
                        [[tx.get("posted", 0), tx.get("pending", 0), tx.get("archived", 0), result["entries"]]],
                        right={"transactions posted", "pending", "archived", "entries"}))
    quarantined = result["quarantined"]
    console.print(f"[bold]Quarantined (this run): {len(quarantined)}[/bold]")
    for q in quarantined:  # one line each, in full: the reason is what the operator acts on
        console.print(f"  {q['reason_code']} {q['source']} {escape(q['external_id'] or '')}: "
                      f"{escape(_reason(q['reason']))}", soft_wrap=True, highlight=False)
    checks = result["checks"]
    console.print(f"Asset checks passed: [bold]{checks['passed']}/{checks['total']}[/bold]"
                  + (f"  failed: {', '.join(checks['failed'])}" if checks["failed"] else ""))
    if result["reconciliation"]:
        console.print(table("Reconciliation (this run)", ["asset", "result", "value"], [
            [key.split("/", 1)[-1], name, value]
            for key, metadata in result["reconciliation"].items() for name, value in _scalars(metadata)],
            right={"value"}))
    if result["warehouse_rows"]:
        console.print(table("Rows synced to the warehouse (this run)", ["table", "rows"],
                            [[k, v] for k, v in result["warehouse_rows"].items()], right={"rows"}))
    if result["reporting"]:
        console.print(f"Reporting models built: {len(result['reporting'])}")
    if result["not_run"]:
        console.print(f"[yellow]Not materialized:[/yellow] {', '.join(result['not_run'])}")
    console.print("\nWhere to look next:")
    for step in result["next_steps"]:
        console.print(f"  - {step}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        seed: Annotated[int, typer.Option(help="Seed of the generated scenario (same seed, same files).")] = 0,
        warehouse: Annotated[Path | None, typer.Option(help="DuckDB warehouse file (default: var/warehouse.duckdb)")] = None,
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run the whole pipeline (ingest, ledger, checks, reconciliation, warehouse sync, reports) on a bundled
        marketplace scenario, in process: one line per step as it goes, then what this run changed."""
        from ledger_pipeline.demo.runner import run_demo
        from ledger_pipeline.demo.scenario import DEFAULT_SEED
        from ledger_pipeline.progress import no_progress

        result = run_demo(seed=seed or DEFAULT_SEED, store_url=store, warehouse_path=warehouse,
                          progress=no_progress if as_json else show_step).as_dict()
        emit(result, as_json, render)
        if not result["success"]:
            raise typer.Exit(EXIT_RULE_BROKEN)
