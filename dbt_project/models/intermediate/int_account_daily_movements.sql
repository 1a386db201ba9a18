{{ config(
    materialized='incremental',
    unique_key=['ledger_account_id', 'movement_date'],
    incremental_strategy='delete+insert'
) }}
{#-
  What moved on each account on each day (UTC day of effective_at), as exact integer sums. Archived
  entries never count. "pending" sums include posted entries, as Modern Treasury's pending balance does.
  One row per account and day with at least one entry (entry_count counts the pending and posted ones; a
  day whose entries are all archived has a row of zeros); fct_daily_account_balances fills the other days.

  Incremental: a run recomputes only the (account, day) pairs that entries synced after the latest
  _synced_at in the table touch, whatever day they are effective on (backdated entries included).
-#}
with
{% if is_incremental() %}
watermark as (

    select coalesce(max(_synced_at), {{ epoch_timestamp() }}) as synced_at from {{ this }}

),

touched as (

    select distinct ledger_account_id, effective_date
    from {{ ref('stg_ledger__entries') }}
    where _synced_at > (select synced_at from watermark)

),

entries as (

    select all_entries.*
    from {{ ref('stg_ledger__entries') }} as all_entries
    inner join touched
        on touched.ledger_account_id = all_entries.ledger_account_id
        and touched.effective_date = all_entries.effective_date

),
{% else %}
entries as (

    select * from {{ ref('stg_ledger__entries') }}

),
{% endif %}

daily as (

    select
        ledger_account_id,
        effective_date as movement_date,
        sum(case when entry_status = 'posted' then debit_amount_minor else 0 end) as posted_debits_minor,
        sum(case when entry_status = 'posted' then credit_amount_minor else 0 end) as posted_credits_minor,
        sum(case when entry_status in ('pending', 'posted') then debit_amount_minor else 0 end)
            as pending_debits_minor,
        sum(case when entry_status in ('pending', 'posted') then credit_amount_minor else 0 end)
            as pending_credits_minor,
        count(case when entry_status in ('pending', 'posted') then 1 end) as entry_count,
        max(_synced_at) as _synced_at

    from entries
    group by ledger_account_id, effective_date

)

select * from daily
