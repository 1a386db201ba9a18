"""Workday REST (Financial Management): resources, paging, cursor and field names (constants only).

Workday's REST services share one shape: collections are ``{"data": [...], "total": N}``, paged with
``limit`` (at most 100) and ``offset``; references are ``{"id", "descriptor", "href"}``. The resource
and field names below follow Workday's journal and settlement business objects (Journal Entry:
journalNumber, accountingDate, journalEntryLines with ledgerAccount, debitAmount, creditAmount; Settlement
Run: settlementRunNumber, paymentDate, settlementBankAccount, totalAmount). Tenants expose them through the
Financial Management REST service or an equivalent custom report; override the paths here if yours differ.
"""

from datetime import timedelta

#: ``https://<host>/ccx/api/financialManagement/v1/<tenant>``; tests pass a local URL.
JOURNALS_PATH = "/journalEntries"
SETTLEMENT_RUNS_PATH = "/settlementRuns"
PAGE_SIZE = 100
#: Query parameter and response field of the incremental cursor (last update of the business object).
CURSOR_PARAM = "updatedFrom"
CURSOR_FIELD = "lastUpdated"
LOOKBACK = timedelta(minutes=30)

#: Journal statuses (descriptor, case-insensitive) that are in the general ledger, and those that undo it.
POSTED_STATUSES = frozenset({"posted"})
UNDONE_STATUSES = frozenset({"reversed", "canceled", "cancelled"})
SETTLED_STATUSES = frozenset({"complete", "completed", "settled", "paid"})

ENV_BASE_URL = "WORKDAY_BASE_URL"
ENV_ACCESS_TOKEN = "WORKDAY_ACCESS_TOKEN"
SOURCE = "workday"
