{#- One row per ledger account: its attributes, reporting category and current balances (the ledger's own). -#}
with accounts as (

    select * from {{ ref('int_ledger_accounts__classified') }}

),

balances as (

    select * from {{ ref('stg_ledger__account_balances') }}

),

joined as (

    select
        accounts.*,
        coalesce(balances.posted_debits_minor, 0) as posted_debits_minor,
        coalesce(balances.posted_credits_minor, 0) as posted_credits_minor,
        coalesce(balances.posted_amount_minor, 0) as posted_balance_minor,
        coalesce(balances.pending_debits_minor, 0) as pending_debits_minor,
        coalesce(balances.pending_credits_minor, 0) as pending_credits_minor,
        coalesce(balances.pending_amount_minor, 0) as pending_balance_minor,
        coalesce(balances.available_amount_minor, 0) as available_balance_minor,
        balances.updated_at as balance_updated_at
    from accounts
    left join balances on balances.ledger_account_id = accounts.ledger_account_id

)

{{ with_money_decimals('joined', ['posted_balance', 'pending_balance', 'available_balance']) }}
