"""Peach Finance API: resources, paging and the meaning of statuses (constants only).

Peach lists objects newest first and pages with ``startingAfter`` (an object id) and ``limit`` (1..100);
responses are ``{"status", "message", "data": [...]}``. Loans are listed company-wide (``GET /loans``);
transactions and fees per loan under ``/people/{personId}/loans/{loanId}/...``. Amounts are decimal
numbers in major units (``actualAmount``, ``amount``).
"""

from datetime import timedelta

BASE_URL = "https://api.peach.finance/api"
LOANS_PATH = "/loans"
TRANSACTIONS_PATH = "/people/{person_id}/loans/{loan_id}/transactions"
FEES_PATH = "/people/{person_id}/loans/{loan_id}/fees"
PAGE_SIZE = 100
#: The documented list endpoints take no "updated since" filter: each run reads every loan's objects and
#: keeps those updated after the cursor minus this window (landing drops unchanged ones anyway).
LOOKBACK = timedelta(hours=1)

#: Transaction status -> ledger status; statuses in UNDONE undo whatever was posted.
TRANSACTION_STATUS = {"succeeded": "posted", "pending": "pending", "initiated": "pending", "inDispute": "pending",
                      "processing": "pending"}
UNDONE = frozenset({"failed", "canceled", "chargeback", "reversed", "returned"})
#: Scheduled (future) payments are landed, not ledgered.
NOT_YET = frozenset({"scheduled", "draft"})
FEE_UNDONE = frozenset({"canceled", "cancelled", "waived", "reversed"})
CREDIT_TYPES = frozenset({"serviceCredit", "credit"})

ENV_BASE_URL = "PEACH_BASE_URL"
ENV_API_KEY = "PEACH_API_KEY"
SOURCE = "peach"
