{#-
  Reconciliation breaks: every bank or ledger item still unmatched (open) after the latest reconciliation
  run, with its age in days (item date to the run's as-of date, and to today) and an age bucket, beside the
  bank and ledger account it belongs to.
-#}
with breaks as (

    select * from {{ ref('stg_ledger__reconciliation_unmatched') }}
    where break_status = 'open'

),

accounts as (

    select ledger_account_id, ledger_id, account_name, currency_exponent
    from {{ ref('int_ledger_accounts__classified') }}

),

internal_accounts as (

    select internal_account_id, internal_account_name from {{ ref('stg_ledger__internal_accounts') }}

),

aged as (

    select
        breaks.side,
        breaks.item_id,
        breaks.internal_account_id,
        internal_accounts.internal_account_name,
        breaks.ledger_account_id,
        accounts.account_name,
        accounts.ledger_id,
        breaks.item_date,
        breaks.currency,
        accounts.currency_exponent,
        breaks.amount_minor,
        breaks.reference,
        breaks.description,
        breaks.break_reason,
        breaks.as_of_date,
        breaks.age_days,
        cast({{ dbt.datediff('breaks.item_date', utc_today(), 'day') }} as integer) as age_days_today,
        case
            when breaks.age_days <= 7 then '0-7 days'
            when breaks.age_days <= 30 then '8-30 days'
            when breaks.age_days <= 90 then '31-90 days'
            else 'over 90 days'
        end as age_bucket,
        breaks.first_run_id,
        breaks.last_run_id
    from breaks
    left join accounts on accounts.ledger_account_id = breaks.ledger_account_id
    left join internal_accounts on internal_accounts.internal_account_id = breaks.internal_account_id

)

{{ with_money_decimals('aged', ['amount']) }}
