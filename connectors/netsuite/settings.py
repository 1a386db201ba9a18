"""NetSuite SuiteQL over REST: endpoint, queries, page size, cursor and overlap (constants only)."""

from datetime import timedelta

#: ``https://<account id>.suitetalk.api.netsuite.com`` in production; tests pass a local URL.
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
#: SuiteQL pages hold at most 1000 rows; ``offset`` + ``limit`` may not pass 100,000.
PAGE_SIZE = 1000
MAX_OFFSET = 100_000
#: lastModifiedDate has one-second granularity and commits land late: re-read this window every run and
#: de-duplicate (a transaction read twice keeps its latest version; landing drops identical rows).
OVERLAP = timedelta(minutes=15)
CURSOR_FIELD = "lastmodifieddate"
TIMESTAMP_FORMAT = "YYYY-MM-DD\"T\"HH24:MI:SS"

#: One row per posting accounting line of each transaction changed since the window start, oldest first.
#: Amounts on TransactionAccountingLine are in the subsidiary's base currency (``debit``/``credit``).
TRANSACTION_LINES_QUERY = (
    "SELECT t.id AS id, t.tranid AS tranid, t.type AS type, "
    "TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, "
    f"TO_CHAR(t.lastmodifieddate, '{TIMESTAMP_FORMAT}') AS lastmodified, "
    "t.voided AS voided, t.memo AS memo, tal.transactionline AS line, tal.account AS account, "
    "tal.debit AS debit, tal.credit AS credit "
    "FROM transaction t JOIN transactionaccountingline tal ON tal.transaction = t.id "
    "WHERE tal.posting = 'T'{since_clause} "
    "ORDER BY t.lastmodifieddate, t.id, tal.transactionline"
)
SINCE_CLAUSE = f" AND t.lastmodifieddate >= TO_TIMESTAMP('{{since}}', '{TIMESTAMP_FORMAT}')"

#: Deleted transactions (SuiteQL's DeletedRecord table), so their ledger transactions get reversed.
DELETED_QUERY = (
    "SELECT recordid AS id, recordtypeid AS type, "
    f"TO_CHAR(deleteddate, '{TIMESTAMP_FORMAT}') AS deleted "
    "FROM deletedrecord WHERE deleteddate >= TO_TIMESTAMP('{since}', "
    f"'{TIMESTAMP_FORMAT}') ORDER BY deleteddate, recordid"
)

#: NetSuite type codes to record types the mapping keys on.
TYPE_NAMES = {
    "Journal": "journal_entry", "AdvInterCompanyJournal": "journal_entry", "CustInvc": "invoice",
    "CustPymt": "customer_payment", "CustCred": "credit_memo", "CustRfnd": "customer_refund",
    "VendBill": "vendor_bill", "VendPymt": "vendor_payment", "VendCred": "vendor_credit",
    "Deposit": "deposit", "Transfer": "transfer", "Check": "check", "CashSale": "cash_sale",
    "CashRfnd": "cash_refund", "ExpRept": "expense_report",
}
#: Amounts are in the base currency of the subsidiary; set per account (``--option currency=EUR``).
DEFAULT_CURRENCY = "USD"
SOURCE = "netsuite"

#: Environment variables read by ``make_client`` at call time.
ENV_BASE_URL = "NETSUITE_BASE_URL"          # https://<account id>.suitetalk.api.netsuite.com
ENV_ACCESS_TOKEN = "NETSUITE_ACCESS_TOKEN"  # OAuth 2.0 (client credentials) bearer token
ENV_CURRENCY = "NETSUITE_BASE_CURRENCY"
