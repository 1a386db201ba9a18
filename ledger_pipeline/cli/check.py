"""``ledger-pipeline check``: the ledger-wide invariants of rule 8 (docs/design.md) over the whole store.

Exit 0 with a one-line summary when the store holds none of them broken; exit 1 with one line per violation
(reason code, detail) when it does; exit 3 when the store cannot be reached or is not initialised.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from ledger_pipeline.cli.support import (
    EXIT_RULE_BROKEN,
    JsonOption,
    StoreOption,
    console,
    emit,
    open_store,
    read,
)
from ledger_pipeline.redact import redact_url

# Domain modules are imported inside the command (see ``cli.ledger``).


def check(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Check the stored ledger: trial balance, balances against entries, unique ids, no orphan entries,
    every transaction balanced, one external_id per ledger. Exit 1 when any is broken."""
    from ledger_pipeline.ledger.invariants import check_invariants

    target = open_store(store)
    violations = read(target, check_invariants)
    result = {"store": redact_url(target.url), "ok": not violations,
              "violations": [{"reason_code": v.reason_code, "key": v.tx_key, "detail": v.detail}
                             for v in violations]}

    def show(d: dict) -> None:
        if d["ok"]:
            console.print(f"{escape(d['store'])}: all ledger invariants hold.", soft_wrap=True)
            return
        for v in d["violations"]:
            console.print(f"{v['reason_code']}: {escape(' '.join(str(v['detail']).split()))}",
                          soft_wrap=True, highlight=False)

    emit(result, as_json, show)
    if violations:
        raise typer.Exit(EXIT_RULE_BROKEN)


def register(app: typer.Typer) -> None:
    app.command()(check)
