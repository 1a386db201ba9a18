{{ config(materialized='table') }}
{#-
  What moved on each account on each day (UTC day of effective_at), as exact integer sums. Archived
  entries never count. "pending" sums include posted entries, as Modern Treasury's pending balance does.
  One row per account and day with at least one entry; fct_daily_account_balances fills the other days.
-#}
with daily as (

    select
        ledger_account_id,
        effective_date as movement_date,
        sum(case when entry_status = 'posted' then debit_amount_minor else 0 end) as posted_debits_minor,
        sum(case when entry_status = 'posted' then credit_amount_minor else 0 end) as posted_credits_minor,
        sum(debit_amount_minor) as pending_debits_minor,
        sum(credit_amount_minor) as pending_credits_minor,
        count(*) as entry_count

    from {{ ref('stg_ledger__entries') }}
    where entry_status in ('pending', 'posted')
    group by ledger_account_id, effective_date

)

select * from daily
