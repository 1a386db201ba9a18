{#- The ledger's own current balances per account, as the store keeps them (amounts signed by normal balance). -#}
select
    ledger_account_id,
    ledger_id,
    currency,
    cast(currency_exponent as integer) as currency_exponent,
    normal_balance,
    posted_debits as posted_debits_minor,
    posted_credits as posted_credits_minor,
    posted_amount as posted_amount_minor,
    pending_debits as pending_debits_minor,
    pending_credits as pending_credits_minor,
    pending_amount as pending_amount_minor,
    available_debits as available_debits_minor,
    available_credits as available_credits_minor,
    available_amount as available_amount_minor,
    lock_version,
    updated_at,
    _version,
    _synced_at
from {{ source('ledger', 'ledger_account_balances') }}
