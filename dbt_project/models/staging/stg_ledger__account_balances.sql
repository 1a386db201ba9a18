{#- The ledger's own current balances per account, as the store keeps them (amounts signed by normal balance). -#}
select
    ledger_account_id,
    ledger_id,
    currency,
    cast(currency_exponent as integer) as currency_exponent,
    normal_balance,
    posted_debits,
    posted_credits,
    posted_amount,
    pending_debits,
    pending_credits,
    pending_amount,
    available_debits,
    available_credits,
    available_amount,
    lock_version,
    updated_at,
    _version,
    _synced_at
from {{ source('ledger', 'ledger_account_balances') }}
