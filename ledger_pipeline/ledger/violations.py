"""Rule violations and their stable reason codes, shared by the rules (``rules.py``), the staging
(``staging.py``, which ranks reason codes) and the invariant checks."""

from __future__ import annotations

from dataclasses import dataclass

# Stable reason codes; the number is the double-entry rule each belongs to (docs/design.md).
REASON_CODES: dict[str, tuple[int, str]] = {
    "missing_field": (1, "a required field (external_id, account, direction, amount) is empty"),
    "invalid_external_id": (1, "external_id begins or ends with white space (it is used as given, never trimmed)"),
    "invalid_text": (1, "a text field holds a NUL byte or text that is not valid UTF-8 (U+FFFD)"),
    "invalid_metadata": (1, "metadata is not a JSON object"),
    "invalid_direction": (1, "direction must be 'debit' or 'credit'"),
    "invalid_status": (6, "status must be 'pending', 'posted' or 'archived'"),
    "invalid_effective_at": (1, "effective_at is not a valid timestamp"),
    "too_few_entries": (1, "a transaction needs at least two entries"),
    "one_sided": (1, "a transaction needs at least one debit and one credit"),
    "inconsistent_transaction": (1, "entries of one transaction disagree on ledger, status, effective_at, description or metadata"),
    "duplicate_external_id_in_batch": (1, "rows of one external_id form more than one group in the batch"),
    "unbalanced": (2, "debits and credits differ for a currency"),
    "invalid_amount": (3, "the amount is not a plain decimal number"),
    "non_positive_amount": (3, "the amount is zero or negative"),
    "excess_precision": (3, "the amount has more decimal places than the currency's exponent"),
    "conflicting_amounts": (3, "amount and amount_minor are both given and disagree"),
    "amount_too_large": (3, "the amount has more than 38 digits in minor units"),
    "balance_overflow": (3, "a transaction's per-currency sum or an account balance would exceed 38 digits"),
    "unknown_ledger": (4, "the ledger does not exist"),
    "unknown_account": (4, "the account does not exist in the ledger"),
    "ambiguous_account": (4, "the account reference is one account's id and another account's name"),
    "archived_account": (4, "the account is archived"),
    "currency_mismatch": (4, "the entry's currency differs from the account's"),
    "external_id_conflict": (5, "the external_id exists in the ledger with different content"),
    "immutable_posted": (6, "the transaction is posted; posted transactions cannot change"),
    "invalid_status_transition": (6, "only pending -> posted | archived is allowed"),
    "unknown_reversal_target": (6, "reverses_id names no stored transaction"),
    "already_reversed": (6, "the transaction that reverses_id names is already reversed"),
    "balance_limit_exceeded": (7, "an account's balance limit would be broken"),
    "ledger_unbalanced": (8, "total debits differ from total credits over posted entries"),
    "duplicate_transaction_id": (8, "a transaction id is stored more than once"),
    "duplicate_entry_id": (8, "an entry id is stored more than once"),
    "orphan_entry": (8, "an entry's transaction is not stored"),
    "transaction_unbalanced": (8, "a stored transaction's debits differ from its credits in a currency"),
    "duplicate_external_id": (8, "an external_id is stored more than once in one ledger"),
    "balance_drift": (8, "a stored balance differs from the balance recomputed from entries"),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which transaction (``tx_key`` is its external_id), which input line, why."""

    tx_key: str
    line: int | None
    reason_code: str
    detail: str

    def as_dict(self) -> dict:
        return {"tx_key": self.tx_key, "line": self.line, "reason_code": self.reason_code, "detail": self.detail}
