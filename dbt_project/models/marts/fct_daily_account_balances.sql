{{ config(
    materialized='incremental',
    unique_key=['ledger_account_id', 'balance_date'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}
{#- append_new_columns, not fail: the contract fixes the columns, and PostgreSQL would report its
    NUMERIC(38,0) columns against the new rows' NUMERIC as a change of type. -#}
{#-
  One row per account and day, from the account's first day (its creation or its first entry, whichever
  is earlier) to the report's last day, balances carried forward over days without activity. Balances are
  as of the end of the day (UTC) by effective time, in Modern Treasury's terms:
    posted    = posted entries;  pending = pending + posted entries;
    available = posted inflows minus pending and posted outflows;
    *_balance = credits - debits on a credit-normal account, debits - credits on a debit-normal one.
  The last day is var balances_end_date, or else the later of today (UTC) and the last effective day, so
  the last row of every account equals the ledger's current balance.

  Incremental: per account, a run rebuilds the days from the earliest day whose movements changed since the
  table's _synced_at (a backdated entry rebuilds its account from its effective day on), adds the days after
  the account's last row, and builds new accounts whole; the balance carried into the first rebuilt day is
  the sum of the account's movements before it. Changes to an account's name or category reach the rows
  already built on `dbt build --full-refresh`.
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
    where entry_count > 0
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

synced as (

    select coalesce(max(_synced_at), {{ epoch_timestamp() }}) as synced_at from movements

),

{% if is_incremental() %}
built as (

    select ledger_account_id, max(balance_date) as last_date, max(_synced_at) as synced_at
    from {{ this }}
    group by ledger_account_id

),

watermark as (

    select coalesce(max(synced_at), {{ epoch_timestamp() }}) as synced_at from built

),

touched as (

    select ledger_account_id, min(movement_date) as touched_date
    from movements
    where _synced_at > (select synced_at from watermark)
    group by ledger_account_id

),

account_starts as (

    select
        account_ranges.ledger_account_id,
        case
            when built.ledger_account_id is null then account_ranges.first_date
            when touched.touched_date <= built.last_date then touched.touched_date
            else {{ add_days('built.last_date', 1) }}
        end as start_date
    from account_ranges
    left join built on built.ledger_account_id = account_ranges.ledger_account_id
    left join touched on touched.ledger_account_id = account_ranges.ledger_account_id

),
{% else %}
account_starts as (

    select ledger_account_id, first_date as start_date from account_ranges

),
{% endif %}

bounds as (

    select
        min(account_starts.start_date) as start_date,
        {% if var('balances_end_date') -%}
        cast('{{ var("balances_end_date") }}' as date)
        {%- else -%}
        greatest(
            coalesce((select max(movement_date) from movements), {{ utc_today() }}),
            {{ utc_today() }}
        )
        {%- endif %} as end_date
    from account_starts

),

days as (

    {{ days_between('bounds', 'balance_date') }}

),

account_days as (

    select
        account_starts.ledger_account_id,
        days.balance_date
    from account_starts
    inner join days on days.balance_date >= account_starts.start_date

),

{#- What each account carried into its first day built here: zero on a full build. -#}
opening as (

    select
        account_starts.ledger_account_id,
        {%- for column in ['posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor'] %}
        coalesce(sum(movements.{{ column }}), 0) as opening_{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from account_starts
    {% if is_incremental() -%}
    left join movements
        on movements.ledger_account_id = account_starts.ledger_account_id
        and movements.movement_date < account_starts.start_date
    {%- else -%}
    left join movements on 1 = 0
    {%- endif %}
    group by account_starts.ledger_account_id

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
        opening.opening_{{ column }} + sum(daily.day_{{ column }}) over (
            partition by daily.ledger_account_id order by daily.balance_date
            rows between unbounded preceding and current row
        ) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from daily
    inner join opening on opening.ledger_account_id = daily.ledger_account_id

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
        end as available_balance_minor,
        (select synced_at from synced) as _synced_at
    from running
    inner join accounts on accounts.ledger_account_id = running.ledger_account_id

)

{{ with_money_decimals('balances', ['posted_balance', 'pending_balance', 'available_balance']) }}
