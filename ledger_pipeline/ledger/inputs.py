"""What the core takes and gives back: proposed transactions (``TransactionInput``) and the outcome of a
batch (``BatchResult``) or of a single write (``TransactionResult``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger_pipeline.ledger.violations import Violation

MAX_REPORTED_VIOLATIONS = 1000


@dataclass(frozen=True)
class BatchResult:
    """What a batch did. ``violations`` is capped at ``MAX_REPORTED_VIOLATIONS``; counts are complete.

    ``quarantined`` counts the refused transactions, every one of which is held in quarantine (a payload
    already open there from an identical earlier submission is not stored twice); ``duplicates`` counts
    repeats of what is already stored (no-ops).
    """

    batch_id: str
    transactions_in: int
    entries_in: int
    created: int
    transitioned: int
    duplicates: int
    quarantined: int
    entries_posted: int
    reason_counts: dict[str, int] = field(default_factory=dict)
    violations: tuple[Violation, ...] = ()
    replayed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "transactions_in": self.transactions_in,
            "entries_in": self.entries_in,
            "created": self.created,
            "transitioned": self.transitioned,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "replayed": self.replayed,
            "entries_posted": self.entries_posted,
            "reason_counts": self.reason_counts,
            "violations": [v.as_dict() for v in self.violations],
        }


@dataclass(frozen=True)
class EntryInput:
    """One side of a proposed transaction. ``amount`` is an integer of minor units (as in Modern Treasury's
    API); ``currency`` defaults to the account's."""

    account: str
    direction: str
    amount: int
    currency: str | None = None


@dataclass(frozen=True)
class TransactionInput:
    entries: Sequence[EntryInput]
    external_id: str | None = None
    ledger: str = "main"
    status: str = "posted"
    effective_at: datetime | str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] | str | None = None
    source: str | None = None
    ledgerable_type: str | None = None
    ledgerable_id: str | None = None
    reverses_id: str | None = None

    def raw_rows(self) -> list[dict[str, Any]]:
        effective = self.effective_at.isoformat() if isinstance(self.effective_at, datetime) else self.effective_at
        if isinstance(self.metadata, str) or self.metadata is None:
            metadata = self.metadata  # stored text, kept byte for byte so its payload hash is unchanged
        else:
            metadata = json.dumps(dict(self.metadata), sort_keys=True)
        # only an absent external_id is generated: an empty one is refused (missing_field), as in a file
        external_id = f"api:{uuid.uuid4()}" if self.external_id is None else self.external_id
        rows = []
        for i, entry in enumerate(self.entries, start=1):
            amount_text = str(entry.amount)  # anything but an integer's digits is refused by rule 3
            rows.append({
                "line": i, "record_ref": f"{external_id} entry {i}", "quarantine_id": None,
                "external_id": external_id, "ledger": self.ledger, "account": entry.account,
                "direction": entry.direction, "amount": None, "amount_minor": amount_text,
                "currency": entry.currency, "effective_at": effective, "status": self.status,
                "description": self.description, "metadata": metadata, "source": self.source,
                "ledgerable_type": self.ledgerable_type, "ledgerable_id": self.ledgerable_id,
                "reverses_id": self.reverses_id,
            })
        return rows


@dataclass(frozen=True)
class TransactionResult:
    id: str
    external_id: str
    status: str
    action: str  # create | transition | noop
