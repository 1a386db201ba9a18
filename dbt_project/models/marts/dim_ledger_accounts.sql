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
        coalesce(balances.posted_debits, 0) as posted_debits,
        coalesce(balances.posted_credits, 0) as posted_credits,
        coalesce(balances.posted_amount, 0) as posted_balance,
        coalesce(balances.pending_debits, 0) as pending_debits,
        coalesce(balances.pending_credits, 0) as pending_credits,
        coalesce(balances.pending_amount, 0) as pending_balance,
        coalesce(balances.available_amount, 0) as available_balance,
        balances.updated_at as balance_updated_at
    from accounts
    left join balances on balances.ledger_account_id = accounts.ledger_account_id

)

{{ with_money_decimals('joined', ['posted_balance', 'pending_balance', 'available_balance']) }}
