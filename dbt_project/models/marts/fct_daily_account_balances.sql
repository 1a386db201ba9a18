{#-
  One row per account and day, from the account's first day (its creation or its first entry, whichever
  is earlier) to the report's last day, balances carried forward over days without activity. Balances are
  as of the end of the day (UTC) by effective time, in Modern Treasury's terms:
    posted    = posted entries;  pending = pending + posted entries;
    available = posted inflows minus pending and posted outflows;
    *_balance = credits - debits on a credit-normal account, debits - credits on a debit-normal one.
  The last day is var balances_end_date, or else the later of today (UTC) and the last effective day, so
  the last row of every account equals the ledger's current balance.
-#}
with accounts as (

    select * from {{ ref('int_ledger_accounts__classified') }}

),

movements as (

    select * from {{ ref('int_account_daily_movements') }}

),

first_movements as (

    select ledger_account_id, min(movement_date) as first_movement_date
    from movements
    group by ledger_account_id

),

account_ranges as (

    select
        accounts.ledger_account_id,
        case
            when first_movements.first_movement_date < accounts.created_date
                then first_movements.first_movement_date
            else accounts.created_date
        end as first_date
    from accounts
    left join first_movements on first_movements.ledger_account_id = accounts.ledger_account_id

),

bounds as (

    select
        min(account_ranges.first_date) as start_date,
        {% if var('balances_end_date') -%}
        cast('{{ var("balances_end_date") }}' as date)
        {%- else -%}
        greatest(
            coalesce((select max(movement_date) from movements), {{ utc_today() }}),
            {{ utc_today() }}
        )
        {%- endif %} as end_date
    from account_ranges

),

days as (

    {{ days_between('bounds', 'balance_date') }}

),

account_days as (

    select
        account_ranges.ledger_account_id,
        days.balance_date
    from account_ranges
    inner join days on days.balance_date >= account_ranges.first_date

),

daily as (

    select
        account_days.ledger_account_id,
        account_days.balance_date,
        coalesce(movements.posted_debits_minor, 0) as day_posted_debits_minor,
        coalesce(movements.posted_credits_minor, 0) as day_posted_credits_minor,
        coalesce(movements.pending_debits_minor, 0) as day_pending_debits_minor,
        coalesce(movements.pending_credits_minor, 0) as day_pending_credits_minor,
        coalesce(movements.entry_count, 0) as day_entry_count
    from account_days
    left join movements
        on movements.ledger_account_id = account_days.ledger_account_id
        and movements.movement_date = account_days.balance_date

),

running as (

    select
        daily.*,
        {%- for column in ['posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor'] %}
        sum(daily.day_{{ column }}) over (
            partition by daily.ledger_account_id order by daily.balance_date
            rows between unbounded preceding and current row
        ) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from daily

),

balances as (

    select
        running.ledger_account_id,
        running.balance_date,
        accounts.ledger_id,
        accounts.account_name,
        accounts.account_category,
        accounts.normal_balance,
        accounts.currency,
        accounts.currency_exponent,
        running.day_entry_count,
        running.day_posted_debits_minor,
        running.day_posted_credits_minor,
        running.posted_debits_minor,
        running.posted_credits_minor,
        running.pending_debits_minor,
        running.pending_credits_minor,
        {{ normal_signed('accounts.normal_balance', 'running.posted_debits_minor', 'running.posted_credits_minor') }}
            as posted_balance_minor,
        {{ normal_signed('accounts.normal_balance', 'running.pending_debits_minor', 'running.pending_credits_minor') }}
            as pending_balance_minor,
        case when accounts.normal_balance = 'credit'
            then running.posted_credits_minor - running.pending_debits_minor
            else running.posted_debits_minor - running.pending_credits_minor
        end as available_balance_minor
    from running
    inner join accounts on accounts.ledger_account_id = running.ledger_account_id

)

{{ with_money_decimals('balances', ['posted_balance', 'pending_balance', 'available_balance']) }}
