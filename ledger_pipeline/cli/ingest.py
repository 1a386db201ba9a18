"""``ledger-pipeline ingest SOURCE (--file PATH... | --api)``, ``ingest-replay`` and
``ledger-pipeline parse SOURCE FILE [--json]`` (no store touched)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import (
    JsonOption,
    OptionOption,
    StoreOption,
    console,
    emit,
    err_console,
    fail,
    handled_errors,
    open_store,
    parser_options,
    print_json,
    progress_hook,
    table,
)

# Domain modules are imported inside the commands (see ``cli.ledger``).

FileOption = Annotated[list[Path] | None, typer.Option("--file", "-f", help="Exported file(s) to read.",
                                                        exists=True, dir_okay=False, readable=True)]

def _render_ingest(result: dict[str, Any]) -> None:
    rows = [[k, v] for k, v in result.items() if k not in ("batches", "reason_counts", "cursors", "streams")]
    console.print(table(f"ingest {result['source']}", ["", "value"], rows, right={"value"}))
    if result["streams"]:
        console.print(table("streams", ["stream", "records"], [[k, v] for k, v in result["streams"].items()]))
    if result["reason_counts"]:
        console.print(table("quarantined by reason", ["reason", "transactions"],
                            [[k, v] for k, v in result["reason_counts"].items()]))


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_command(
        source: Annotated[str, typer.Argument(help="Source name (stripe, adyen, bank, events, ...).")],
        file: FileOption = None,
        api: Annotated[bool, typer.Option("--api", help="Read the source's API from the saved cursors.")] = False,
        base_url: Annotated[str | None, typer.Option("--base-url", help="API base URL override.")] = None,
        stream: Annotated[list[str] | None, typer.Option("--stream", help="API stream(s) to read.")] = None,
        mapping: Annotated[Path | None, typer.Option("--mapping", help="Mapping YAML instead of the default.")] = None,
        option: OptionOption = None,
        no_post: Annotated[bool, typer.Option("--no-post", help="Land the records only.")] = False,
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Extract SOURCE from files or its API, land the raw records, map them and post them to the ledger."""
        from ledger_pipeline.ingest.pipeline import ingest

        if bool(file) == api:
            raise fail("give --file PATH (one or more) or --api")
        target = open_store(store)
        with handled_errors(files=file), progress_hook(f"ingest {source}", as_json) as hook:
            result = ingest(target, source, files=file or None, api=api, base_url=base_url, streams=stream,
                            file_options=parser_options(option), mapping=mapping, post=not no_post, progress=hook)
        emit(result.as_dict(), as_json, _render_ingest)

    @app.command("ingest-replay")
    def ingest_replay_command(
        source: Annotated[str | None, typer.Option("--source", help="Only this source's items.")] = None,
        mapping: Annotated[Path | None, typer.Option("--mapping", help="Mapping YAML instead of the default.")] = None,
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Map quarantined records that could not be mapped again (after fixing the mapping YAML)."""
        from ledger_pipeline.ingest.pipeline import replay_unmapped

        target = open_store(store)
        with handled_errors():
            results = replay_unmapped(target, source=source, mapping=mapping)
        data = {k: v.as_dict() for k, v in results.items()}
        emit(data, as_json, lambda d: [_render_ingest(r) for r in d.values()] or console.print("nothing to replay"))

    @app.command("parse")
    def parse_command(
        source: Annotated[str, typer.Argument(help="Source name (stripe, adyen, bank, events, ...).")],
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="Exported file or bank statement to read")],
        option: OptionOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Print the normalised records of FILE (statements: accounts, balances, sums) without a store."""
        from connectors.common.records import arrow_to_records
        from ledger_pipeline.ingest.pipeline import to_records_table
        from ledger_pipeline.ingest.sources import get_source

        options = parser_options(option)
        with handled_errors(files=file):
            spec = get_source(source)
            if source == "bank":
                from connectors.bank import parse_statement

                stmt = parse_statement(file, **options)
                data: Any = {**stmt.summary(), "statement_lines": [
                    {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in line.__dict__.items()}
                    for line in stmt.lines]}
            else:
                records = arrow_to_records(to_records_table(spec.parse_file_fn()(file, **options)))
                data = {"source": source, "file": str(file), "records": len(records), "items": [
                    {"stream": r.stream, "object_id": r.object_id, "cursor_value": r.cursor_value,
                     "record_ref": r.record_ref, "fields": r.fields, "raw": r.raw} for r in records]}
                # the file's own controls: records that fail one are quarantined on import (or, taken
                # with verify=false, carry the warning)
                data["warnings"] = [
                    {"code": w.get("code"), "detail": w.get("detail"), "record_ref": r.record_ref,
                     "quarantined_on_import": w is r.fields.get("quarantine")}
                    for r in records
                    for w in [r.fields.get("quarantine"), *(r.fields.get("warnings") or [])] if w]
        if as_json:
            print_json(data)
            return
        if source == "bank":
            console.print(table(f"{data['format']} statement {file}",
                                ["account", "currency", "date", "opening", "closing", "credits", "debits",
                                 "lines"],
                                [[a["account_id"], a["currency"], a["date"], a["opening_balance"],
                                  a["closing_balance"], a["credits_total"], a["debits_total"],
                                  a["credits_count"] + a["debits_count"]] for a in data["accounts"]],
                                right={"opening", "closing", "credits", "debits", "lines"}))
            return
        console.print(table(f"{source}: {data['records']} records from {file}",
                            ["stream", "object_id", "type", "fields"],
                            [[i["stream"], i["object_id"], i["fields"].get("type"),
                              json.dumps(i["fields"], default=str)[:100]] for i in data["items"]]))
        for w in data["warnings"]:
            err_console.print(f"[yellow]warning:[/yellow] {escape(w['detail'] or w['code'])}")
