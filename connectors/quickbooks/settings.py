"""QuickBooks Online Accounting API v3: endpoints, entities, page size and cursor (constants only)."""

from datetime import timedelta

#: Production base URL; tests and sandboxes pass their own (``--base-url``).
BASE_URL = "https://quickbooks.api.intuit.com"
#: The client's base URL ends with the company: ``<base>/v3/company/<realm id>``; paths are relative to it.
COMPANY_PATH = "/v3/company/{realm_id}"
QUERY_PATH = "query"
CDC_PATH = "cdc"
MINOR_VERSION = "75"

#: MAXRESULTS is capped at 1000 by the query endpoint.
PAGE_SIZE = 1000
CURSOR_FIELD = "MetaData.LastUpdatedTime"
#: Re-read this much before the cursor: QBO timestamps are seconds and commits land late.
LOOKBACK = timedelta(minutes=10)
#: The CDC endpoint only answers for changes within the last 30 days (at most 1000 objects per entity).
CDC_MAX_AGE = timedelta(days=30)

DEFAULT_CURRENCY = "USD"
#: The account id used when a payment names no deposit account (QBO then holds it in Undeposited Funds).
UNDEPOSITED_FUNDS = "undeposited"
#: The account id used when a bill payment names no bank or card account.
UNSPECIFIED_BANK = "unspecified_bank"
SOURCE = "quickbooks"

#: Stream name (one cursor each) -> entity: the money-moving entities (cash sales, SalesReceipt, too).
STREAMS = {
    "journal_entries": "JournalEntry", "payments": "Payment", "invoices": "Invoice", "deposits": "Deposit",
    "transfers": "Transfer", "bill_payments": "BillPayment", "sales_receipts": "SalesReceipt",
}
#: Environment variables read by ``make_client`` at call time.
ENV_REALM_ID = "QUICKBOOKS_REALM_ID"
ENV_ACCESS_TOKEN = "QUICKBOOKS_ACCESS_TOKEN"
ENV_BASE_URL = "QUICKBOOKS_BASE_URL"
