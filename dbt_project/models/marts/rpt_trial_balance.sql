{#-
  The trial balance: every account's posted debits and credits over all time, and its net balance on the
  debit or the credit side. Per ledger and currency the debit side equals the credit side (tested).
-#}
with accounts as (

    select * from {{ ref('int_ledger_accounts__classified') }}

),

movements as (

    select
        ledger_account_id,
        sum(posted_debits) as total_debits,
        sum(posted_credits) as total_credits
    from {{ ref('int_account_daily_movements') }}
    group by ledger_account_id

),

lines as (

    select
        accounts.ledger_id,
        accounts.ledger_name,
        accounts.currency,
        accounts.currency_exponent,
        accounts.ledger_account_id,
        accounts.account_name,
        accounts.account_category,
        accounts.normal_balance,
        coalesce(movements.total_debits, 0) as total_debits,
        coalesce(movements.total_credits, 0) as total_credits
    from accounts
    left join movements on movements.ledger_account_id = accounts.ledger_account_id

),

sides as (

    select
        lines.*,
        case when total_debits > total_credits then total_debits - total_credits else 0 end as debit_balance,
        case when total_credits > total_debits then total_credits - total_debits else 0 end as credit_balance
    from lines

)

{{ with_money_decimals('sides', ['debit_balance', 'credit_balance']) }}
