{{ config(materialized='view') }}
{#-
  The trial balance as of the end of any day (UTC): one row per account and day of fct_daily_account_balances,
  with the posted debits and credits up to that day and the net balance on the debit or the credit side.
  is_month_end marks the last day of each month (and the report's last day), the usual closing dates:
  filter as_of_date = '2026-01-31' for January's closing trial balance. A view: it reads the daily balances
  table and stores nothing of its own.
-#}
with days as (

    select * from {{ ref('fct_daily_account_balances') }}

),

accounts as (

    select ledger_account_id, ledger_name from {{ ref('int_ledger_accounts__classified') }}

),

lines as (

    select
        days.balance_date as as_of_date,
        days.balance_date = max(days.balance_date) over (
            partition by days.ledger_account_id, {{ month_start('days.balance_date') }}
        ) as is_month_end,
        days.ledger_id,
        accounts.ledger_name,
        days.currency,
        days.currency_exponent,
        days.ledger_account_id,
        days.account_name,
        days.account_category,
        days.normal_balance,
        days.posted_debits_minor as total_debits_minor,
        days.posted_credits_minor as total_credits_minor,
        case when days.posted_debits_minor > days.posted_credits_minor
            then days.posted_debits_minor - days.posted_credits_minor else 0 end as debit_balance_minor,
        case when days.posted_credits_minor > days.posted_debits_minor
            then days.posted_credits_minor - days.posted_debits_minor else 0 end as credit_balance_minor
    from days
    left join accounts on accounts.ledger_account_id = days.ledger_account_id

)

{{ with_money_decimals('lines', ['debit_balance', 'credit_balance']) }}
