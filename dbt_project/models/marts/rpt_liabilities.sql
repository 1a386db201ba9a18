{#-
  What the platform owes its customers, day by day: the summed balances of the customer wallet accounts
  (account_category = 'customer_wallet') per ledger and currency, carried forward like
  fct_daily_account_balances. Balances are in the wallets' normal direction (credit-normal: a positive
  balance is owed to the customer).
-#}
with wallet_days as (

    select * from {{ ref('fct_daily_account_balances') }}
    where account_category = 'customer_wallet'

),

daily as (

    select
        balance_date,
        ledger_id,
        currency,
        max(currency_exponent) as currency_exponent,
        count(*) as wallet_count,
        cast(sum(case when posted_balance_minor <> 0 then 1 else 0 end) as bigint) as funded_wallet_count,
        sum(posted_balance_minor) as posted_balance_minor,
        sum(pending_balance_minor) as pending_balance_minor,
        sum(available_balance_minor) as available_balance_minor
    from wallet_days
    group by balance_date, ledger_id, currency

)

{{ with_money_decimals('daily', ['posted_balance', 'pending_balance', 'available_balance']) }}
