{#-
  Transaction volume by day (UTC, effective), ledger, source and currency. The volume of a transaction in
  a currency is the sum of its debits in that currency (= the sum of its credits: it is balanced).
  Posted and pending are counted apart; archived transactions do not count.
-#}
with per_transaction as (

    select
        ledger_transaction_id,
        ledger_id,
        effective_date,
        source,
        currency,
        currency_exponent,
        transaction_status,
        sum(debit_amount_minor) as volume_minor,
        count(*) as entry_count
    from {{ ref('fct_ledger_entries') }}
    where transaction_status in ('pending', 'posted')
    group by ledger_transaction_id, ledger_id, effective_date, source, currency, currency_exponent,
        transaction_status

),

daily as (

    select
        effective_date as volume_date,
        ledger_id,
        source,
        currency,
        max(currency_exponent) as currency_exponent,
        cast(sum(case when transaction_status = 'posted' then 1 else 0 end) as bigint) as posted_transaction_count,
        cast(sum(case when transaction_status = 'posted' then entry_count else 0 end) as bigint) as posted_entry_count,
        sum(case when transaction_status = 'posted' then volume_minor else 0 end) as posted_volume_minor,
        cast(sum(case when transaction_status = 'pending' then 1 else 0 end) as bigint) as pending_transaction_count,
        sum(case when transaction_status = 'pending' then volume_minor else 0 end) as pending_volume_minor
    from per_transaction
    group by effective_date, ledger_id, source, currency

)

{{ with_money_decimals('daily', ['posted_volume', 'pending_volume']) }}
