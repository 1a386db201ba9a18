select
    id as ledger_entry_id,
    ledger_transaction_id,
    ledger_account_id,
    direction,
    amount as amount_minor,
    case when direction = 'debit' then amount else 0 end as debit_amount_minor,
    case when direction = 'credit' then amount else 0 end as credit_amount_minor,
    currency,
    status as entry_status,
    effective_at,
    {{ utc_date('effective_at') }} as effective_date,
    created_at,
    _version,
    _synced_at
from {{ source('ledger', 'ledger_entries') }}
