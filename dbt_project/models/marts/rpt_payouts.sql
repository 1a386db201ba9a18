{#-
  Payouts (see int_ledger_transactions__classified: is_payout), one row per payout transaction and
  currency: the amount moved (sum of its debits), how much of it reached cash accounts, and its status.
-#}
with entries as (

    select * from {{ ref('fct_ledger_entries') }}
    where is_payout

),

payouts as (

    select
        ledger_transaction_id,
        ledger_id,
        external_id,
        source,
        transaction_type,
        transaction_status,
        effective_at,
        effective_date,
        posted_at,
        currency,
        max(currency_exponent) as currency_exponent,
        sum(debit_amount_minor) as payout_amount_minor,
        sum(case when account_category = 'cash' then signed_amount_minor else 0 end) as cash_received_minor,
        count(*) as entry_count
    from entries
    group by ledger_transaction_id, ledger_id, external_id, source, transaction_type, transaction_status,
        effective_at, effective_date, posted_at, currency

)

{{ with_money_decimals('payouts', ['payout_amount', 'cash_received']) }}
