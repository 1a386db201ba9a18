{#-
  Balances of every category on every day: one row per category, currency and day, the sums of the daily
  balances of the accounts the category holds (directly or through nested categories, each account once),
  signed by the category's own normal balance as Modern Treasury does. A category holding accounts of
  several currencies has one row per currency: amounts of different currencies are never added.
-#}
with members as (

    select * from {{ ref('int_category_accounts') }}

),

summed as (

    select
        members.category_id,
        members.category_name,
        members.ledger_id,
        days.currency,
        max(days.currency_exponent) as currency_exponent,
        days.balance_date,
        count(*) as account_count,
        sum(days.posted_debits_minor) as posted_debits_minor,
        sum(days.posted_credits_minor) as posted_credits_minor,
        sum(days.pending_debits_minor) as pending_debits_minor,
        sum(days.pending_credits_minor) as pending_credits_minor,
        members.normal_balance
    from members
    inner join {{ ref('fct_daily_account_balances') }} as days
        on days.ledger_account_id = members.ledger_account_id
    group by members.category_id, members.category_name, members.ledger_id, members.normal_balance, days.currency,
        days.balance_date

),

balances as (

    select
        summed.*,
        {{ normal_signed('summed.normal_balance', 'summed.posted_debits_minor', 'summed.posted_credits_minor') }}
            as posted_balance_minor,
        {{ normal_signed('summed.normal_balance', 'summed.pending_debits_minor', 'summed.pending_credits_minor') }}
            as pending_balance_minor
    from summed

)

{{ with_money_decimals('balances', ['posted_balance', 'pending_balance']) }}
