{#-
  Transaction volume by day (UTC, effective), ledger, source and currency. The volume of a transaction in
  a currency is the sum of its debits in that currency (= the sum of its credits: it is balanced).
  Posted and pending are counted apart; archived transactions do not count.
-#}
with daily as (

    {#- One pass over the entries, no per-transaction step: a transaction's status, day, ledger and source
        are its own, so its entries in a currency all fall in one group, and counting it is counting its
        distinct id there, without a group per transaction. -#}
    select
        effective_date as volume_date,
        ledger_id,
        source,
        currency,
        max(currency_exponent) as currency_exponent,
        cast(count(distinct case when transaction_status = 'posted' then ledger_transaction_id end) as bigint)
            as posted_transaction_count,
        cast(sum(case when transaction_status = 'posted' then 1 else 0 end) as bigint) as posted_entry_count,
        sum(case when transaction_status = 'posted' then debit_amount_minor else 0 end) as posted_volume_minor,
        cast(count(distinct case when transaction_status = 'pending' then ledger_transaction_id end) as bigint)
            as pending_transaction_count,
        sum(case when transaction_status = 'pending' then debit_amount_minor else 0 end) as pending_volume_minor
    from {{ ref('fct_ledger_entries') }}
    where transaction_status in ('pending', 'posted')
    group by effective_date, ledger_id, source, currency

)

{{ with_money_decimals('daily', ['posted_volume', 'pending_volume']) }}
