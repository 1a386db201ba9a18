{#-
  Revenue, expenses and any other category, month by month: per category, currency and month (UTC, by
  effective time), the posted debits and credits of the accounts the category holds (directly or through
  nested categories) and the net movement signed by the category's normal balance: for revenue (credit
  normal) credits - debits, for expenses (debit normal) debits - credits. Months without activity have no row.
-#}
with members as (

    select * from {{ ref('int_category_accounts') }}

),

accounts as (

    select ledger_account_id, currency, currency_exponent from {{ ref('int_ledger_accounts__classified') }}

),

monthly as (

    select
        members.category_id,
        members.category_name,
        members.ledger_id,
        accounts.currency,
        max(accounts.currency_exponent) as currency_exponent,
        {{ month_start('movements.movement_date') }} as activity_month,
        sum(movements.posted_debits_minor) as posted_debits_minor,
        sum(movements.posted_credits_minor) as posted_credits_minor,
        members.normal_balance
    from members
    inner join accounts on accounts.ledger_account_id = members.ledger_account_id
    inner join {{ ref('int_account_daily_movements') }} as movements
        on movements.ledger_account_id = members.ledger_account_id
    group by members.category_id, members.category_name, members.ledger_id, members.normal_balance, accounts.currency,
        {{ month_start('movements.movement_date') }}

),

netted as (

    select
        monthly.*,
        {{ normal_signed('monthly.normal_balance', 'monthly.posted_debits_minor', 'monthly.posted_credits_minor') }}
            as net_amount_minor
    from monthly
    where monthly.posted_debits_minor <> 0 or monthly.posted_credits_minor <> 0

)

{{ with_money_decimals('netted', ['posted_debits', 'posted_credits', 'net_amount']) }}
