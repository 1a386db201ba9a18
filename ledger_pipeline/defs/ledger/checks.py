"""Asset checks: every double-entry rule and the ledger-wide invariants, over the stored ledger.

* ``rule_1_...`` to ``rule_7_...`` (on ``ledger/ledger_transactions``): nothing stored breaks the rule
  (``ledger.stored_rules``). Each carries the open quarantine count of its reason codes as metadata: a
  refused record in quarantine is the rule working, not a failure.
  Except for the structural codes ``too_few_entries``, ``one_sided`` and ``unbalanced``: a source record
  cannot be "a bit" unbalanced, so such a refusal means the mapping (or the export) that produced it is
  wrong and money is missing from the ledger; rules 1 and 2 then fail until the batch is fixed and
  replayed (or discarded), and being blocking they stop reconciliation, the warehouse sync and reporting in
  the same run from reporting numbers with a hole in them.
* ``trial_balance_zero`` and ``store_identities_hold`` (on ``ledger/ledger_entries``) and
  ``balances_match_entries`` (on ``ledger/ledger_account_balances``): rule 8. The identities catch wrong money
  that both sums miss: a transaction or entry id stored twice, an entry without its transaction, a stored
  transaction that does not balance, an external_id stored twice in one ledger.

All are blocking: a later step must not run on a ledger that breaks the contract.
"""


from collections.abc import Callable
from typing import Any

import dagster as dg

from ledger_pipeline.defs.resources import LedgerStoreResource
from ledger_pipeline.ledger.invariants import (
    check_balance_drift,
    check_identities,
    check_trial_balance,
    trial_balance,
)
from ledger_pipeline.ledger.quarantine import quarantine_counts
from ledger_pipeline.ledger.stored_rules import (
    STORED_RULES,
    StoredRule,
    count_stored_rule_violations,
    stored_rule_violations,
)
from ledger_pipeline.ledger.violations import REASON_CODES, Violation

TRANSACTIONS = dg.AssetKey(["ledger", "ledger_transactions"])
ENTRIES = dg.AssetKey(["ledger", "ledger_entries"])
BALANCES = dg.AssetKey(["ledger", "ledger_account_balances"])

#: refusals that mean the producer of a batch is broken, not one record (see the module docstring)
STRUCTURAL_REASONS = frozenset({"too_few_entries", "one_sided", "unbalanced"})
SHOWN_VIOLATIONS = 20


def rule_check_name(rule: StoredRule) -> str:
    return f"rule_{rule.design_rule}_{rule.name}"


def _violations_md(violations: list[Violation]) -> dg.MetadataValue:
    lines = [f"- `{v.reason_code}` {v.detail}" for v in violations[:SHOWN_VIOLATIONS]]
    return dg.MetadataValue.md("\n".join(lines) or "none")


def _read(ledger_store: LedgerStoreResource, *queries: Callable[[Any], Any]) -> list[Any]:
    """The results of ``queries`` (each a function of a connection), read in one read-only connection."""
    with ledger_store.store().connect(read_only=True) as conn:
        return [query(conn) for query in queries]


def _rule_check(rule: StoredRule) -> dg.AssetChecksDefinition:
    codes = sorted(c for c, (n, _) in REASON_CODES.items() if n == rule.design_rule)
    structural = sorted(STRUCTURAL_REASONS.intersection(codes))

    @dg.asset_check(
        asset=TRANSACTIONS,
        name=rule_check_name(rule),
        description=f"docs/design.md rule {rule.design_rule}: {rule.description}. Reason codes: {', '.join(codes)}.",
        blocking=True,
    )
    def check(ledger_store: LedgerStoreResource) -> dg.AssetCheckResult:
        with ledger_store.store().connect(read_only=True) as conn:
            stored = count_stored_rule_violations(conn, rule.design_rule)
            shown = stored_rule_violations(conn, rule.design_rule, limit=SHOWN_VIOLATIONS) if stored else []
            open_items = quarantine_counts(conn)
        quarantined = {c: open_items.get(c, 0) for c in codes}
        blocking_refusals = sum(quarantined[c] for c in structural)
        return dg.AssetCheckResult(
            passed=stored == 0 and blocking_refusals == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(f"{stored} stored violation(s); "
                         f"{sum(quarantined.values())} refused transaction(s) open in quarantine"
                         + (f", {blocking_refusals} structural ({', '.join(structural)})" if blocking_refusals else "")),
            metadata={
                "stored_violations": stored,
                "quarantined_open_by_reason": dg.MetadataValue.json(quarantined),
                "structural_refusals_open": blocking_refusals,
                "violations": _violations_md(shown),
            },
        )

    return check


@dg.asset_check(asset=ENTRIES, blocking=True,
                description="docs/design.md rule 8: per ledger and currency, total debits equal total credits "
                            "over posted entries (and over pending ones).")
def trial_balance_zero(ledger_store: LedgerStoreResource) -> dg.AssetCheckResult:
    violations, totals = _read(ledger_store, check_trial_balance, trial_balance)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "ledger_currencies": len(totals),
            "posted_debits_by_currency": dg.MetadataValue.json(
                {f"{r['ledger']}/{r['currency']}": r["posted_debits"] for r in totals}),
            "violations": _violations_md(violations),
        },
    )


@dg.asset_check(asset=BALANCES, blocking=True,
                description="docs/design.md rule 8: every stored balance equals the balance recomputed from the "
                            "account's entries.")
def balances_match_entries(ledger_store: LedgerStoreResource) -> dg.AssetCheckResult:
    [violations] = _read(ledger_store, check_balance_drift)
    return dg.AssetCheckResult(passed=not violations,
                               metadata={"drifting_accounts": len(violations), "violations": _violations_md(violations)})


IDENTITY_CODES = ("duplicate_transaction_id", "duplicate_entry_id", "orphan_entry", "transaction_unbalanced",
                  "duplicate_external_id")


@dg.asset_check(asset=ENTRIES, blocking=True,
                description="docs/design.md rule 8: transaction and entry ids are unique, every entry's transaction "
                            "is stored, every transaction balances per currency from its stored entries, and no "
                            f"external_id is stored twice in one ledger. Reason codes: {', '.join(IDENTITY_CODES)}.")
def store_identities_hold(ledger_store: LedgerStoreResource) -> dg.AssetCheckResult:
    [violations] = _read(ledger_store, check_identities)
    found = {code: sum(v.reason_code == code for v in violations) for code in IDENTITY_CODES}
    return dg.AssetCheckResult(
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(violations)} violation(s)" if violations else "all identities hold",
        metadata={"violations_by_reason": dg.MetadataValue.json(found), "violations": _violations_md(violations)},
    )


@dg.definitions
def ledger_checks() -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[*(_rule_check(rule) for rule in STORED_RULES), trial_balance_zero, store_identities_hold,
                      balances_match_entries])
