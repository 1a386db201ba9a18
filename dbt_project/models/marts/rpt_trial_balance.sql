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
        sum(posted_debits_minor) as total_debits_minor,
        sum(posted_credits_minor) as total_credits_minor
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
        coalesce(movements.total_debits_minor, 0) as total_debits_minor,
        coalesce(movements.total_credits_minor, 0) as total_credits_minor
    from accounts
    left join movements on movements.ledger_account_id = accounts.ledger_account_id

),

sides as (

    select
        lines.*,
        case when total_debits_minor > total_credits_minor then total_debits_minor - total_credits_minor else 0 end as debit_balance_minor,
        case when total_credits_minor > total_debits_minor then total_credits_minor - total_debits_minor else 0 end as credit_balance_minor
    from lines

)

{{ with_money_decimals('sides', ['debit_balance', 'credit_balance']) }}
