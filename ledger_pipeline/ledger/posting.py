"""The core's write API in one place: a batch through ``post`` (``batch_post.py``), one transaction at a
time through ``LedgerWriter`` / ``post_transaction`` (``writer.py``). Both run the same validation
pipeline (``pipeline.py``)."""

from __future__ import annotations

from ledger_pipeline.ledger.batch_post import BatchWork, PostRequest, post, post_batch, post_batch_file
from ledger_pipeline.ledger.inputs import (
    MAX_REPORTED_VIOLATIONS,
    BatchResult,
    EntryInput,
    TransactionInput,
    TransactionResult,
)
from ledger_pipeline.ledger.pipeline import write_audit
from ledger_pipeline.ledger.writer import (
    LedgerWriter,
    group_for,
    load_transaction_input,
    open_writer,
    post_transaction,
)

__all__ = [
    "MAX_REPORTED_VIOLATIONS", "BatchResult", "BatchWork", "EntryInput", "LedgerWriter", "PostRequest",
    "TransactionInput", "TransactionResult", "group_for", "load_transaction_input", "open_writer", "post",
    "post_batch", "post_batch_file", "post_transaction", "write_audit",
]
