"""Adyen: Settlement Details Report and Payments Accounting Report columns (mapped by header name; order
differs between versions)."""

REQUIRED_COLUMNS = ("Merchant Account", "Psp Reference", "Creation Date", "TimeZone", "Type", "Net Currency",
                    "Net Debit (NC)", "Net Credit (NC)", "Batch Number")
FEE_COLUMNS = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")
#: The report writes a zone abbreviation next to each local time.
TIMEZONES = {
    "CET": "Europe/Amsterdam", "CEST": "Europe/Amsterdam", "WET": "Europe/Lisbon", "WEST": "Europe/Lisbon",
    "EET": "Europe/Helsinki", "EEST": "Europe/Helsinki", "GMT": "UTC", "UTC": "UTC", "BST": "Europe/London",
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MST": "America/Denver",
    "MDT": "America/Denver", "CST": "America/Chicago", "CDT": "America/Chicago", "EST": "America/New_York",
    "EDT": "America/New_York", "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "SGT": "Asia/Singapore",
    "HKT": "Asia/Hong_Kong", "JST": "Asia/Tokyo", "BRT": "America/Sao_Paulo",
}

#: Payments Accounting Report: the columns the parser needs; the others are kept raw.
PAR_REQUIRED_COLUMNS = ("Merchant Account", "Psp Reference", "Booking Date", "TimeZone", "Record Type")
#: amounts in the payment currency (``Payment Currency``) -> field
PAR_PC_COLUMNS = {"Received (PC)": "received", "Authorised (PC)": "authorised", "Captured (PC)": "captured"}
#: amounts in the settlement currency (``Settlement Currency``) -> field
PAR_SC_COLUMNS = {"Payable (SC)": "payable", "Commission (SC)": "commission", "Markup (SC)": "markup",
                  "Scheme Fees (SC)": "scheme_fees", "Interchange (SC)": "interchange"}

#: Report download (API mode): ``GET <base>/reports/download/MerchantAccount/<merchant account>/<file>``
#: with the report user's API key in the ``X-API-Key`` header. Live: ``https://ca-live.adyen.com``; test:
#: ``https://ca-test.adyen.com``.
REPORT_BASE_URL = "https://ca-live.adyen.com"
REPORT_DOWNLOAD_PATH = "/reports/download/MerchantAccount/{merchant_account}"
SETTLEMENT_REPORT_FILE = "settlement_detail_report_batch_{batch}.csv"
#: batches downloaded in one run at most (the next run goes on from the cursor)
MAX_BATCHES_PER_RUN = 100
ENV_BASE_URL = "ADYEN_REPORT_BASE_URL"
ENV_API_KEY = "ADYEN_REPORT_API_KEY"
ENV_MERCHANT_ACCOUNT = "ADYEN_MERCHANT_ACCOUNT"
#: the batch a first pull starts from (no cursor yet); default 1
ENV_FIRST_BATCH = "ADYEN_FIRST_BATCH"
