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
        sum(case when posted_balance <> 0 then 1 else 0 end) as funded_wallet_count,
        sum(posted_balance) as posted_balance,
        sum(pending_balance) as pending_balance,
        sum(available_balance) as available_balance
    from wallet_days
    group by balance_date, ledger_id, currency

),

final as (

    select
        daily.*,
        {{ money_decimal('daily.posted_balance', 'daily.currency_exponent') }} as posted_balance_decimal,
        {{ money_decimal('daily.pending_balance', 'daily.currency_exponent') }} as pending_balance_decimal,
        {{ money_decimal('daily.available_balance', 'daily.currency_exponent') }} as available_balance_decimal
    from daily

)

select * from final
