{#-
  Net cash burn per month, ledger and currency: how much the balance of the cash accounts (see
  int_ledger_accounts__classified: account_category = 'cash') went down, from posted entries by effective
  day. inflow raises a cash account's balance, outflow lowers it; net_burn = outflow - inflow (negative:
  cash grew). Transfers between two cash accounts of the same currency cancel out. closing_cash_balance
  is the cash accounts' total balance at the end of the month; months without cash activity have no row.
-#}
with cash_accounts as (

    select ledger_account_id, ledger_id, currency, currency_exponent, normal_balance
    from {{ ref('int_ledger_accounts__classified') }}
    where account_category = 'cash'

),

movements as (

    select
        cash_accounts.ledger_id,
        cash_accounts.currency,
        cash_accounts.currency_exponent,
        {{ month_start('movements.movement_date') }} as burn_month,
        case when cash_accounts.normal_balance = 'debit'
            then movements.posted_debits_minor else movements.posted_credits_minor end as inflow_minor,
        case when cash_accounts.normal_balance = 'debit'
            then movements.posted_credits_minor else movements.posted_debits_minor end as outflow_minor
    from {{ ref('int_account_daily_movements') }} as movements
    inner join cash_accounts on cash_accounts.ledger_account_id = movements.ledger_account_id
    where movements.entry_count > 0

),

monthly as (

    select
        ledger_id,
        currency,
        max(currency_exponent) as currency_exponent,
        burn_month,
        sum(inflow_minor) as inflow_minor,
        sum(outflow_minor) as outflow_minor,
        sum(outflow_minor) - sum(inflow_minor) as net_burn_minor
    from movements
    group by ledger_id, currency, burn_month

),

with_balance as (

    select
        monthly.*,
        sum(inflow_minor - outflow_minor) over (
            partition by ledger_id, currency order by burn_month
            rows between unbounded preceding and current row
        ) as closing_cash_balance_minor
    from monthly

)

{{ with_money_decimals('with_balance', ['inflow', 'outflow', 'net_burn', 'closing_cash_balance']) }}
