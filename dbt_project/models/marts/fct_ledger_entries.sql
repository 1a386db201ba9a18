{{ config(
    materialized='incremental',
    unique_key='ledger_entry_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}
-- depends_on: {{ ref('stg_ledger__transactions') }}
{#- append_new_columns, not fail: the contract fixes the columns, and PostgreSQL would report its
    NUMERIC(38,0) columns against the new rows' NUMERIC as a change of type. -#}
{#-
  One row per ledger entry, with its transaction and account. signed_amount_minor is the entry's effect on its
  account's balance in the account's normal direction (a debit raises a debit-normal account).
  Left joins: an entry whose transaction or account is missing stays, with NULLs that the not_null tests
  on ledger_id and normal_balance catch (the referential checks, in the scan that builds the table).

  Incremental: a run rewrites every entry of the transactions the sync moved after the latest _synced_at
  already in the table (a transaction synced after it, a status change, or one with an entry synced after
  it), so a 15-minute tick touches only what the sync moved, whole transactions at a time. The entries are
  found by their transaction id (time-ordered, so DuckDB skips the row groups of older entries) rather than
  by scanning every entry. _built_at is when the dbt run that wrote the row started: a plain `dbt build`
  tests the rows it wrote (docs/reporting.md). Changes to accounts or categories (an account's name or
  category, what counts as a payout) reach the rows already built on `dbt build --full-refresh`.
-#}
{% if is_incremental() %}
with watermark as (

    select coalesce(max(_synced_at), {{ epoch_timestamp() }}) as synced_at
    from {{ this }}

),

changed_transactions as (

    select ledger_transaction_id
    from {{ ref('stg_ledger__transactions') }}
    where _synced_at > (select synced_at from watermark)

    union

    select ledger_transaction_id
    from {{ ref('stg_ledger__entries') }}
    where _synced_at > (select synced_at from watermark)

),

entries as (

    select *
    from {{ ref('stg_ledger__entries') }}
    where ledger_transaction_id in (select ledger_transaction_id from changed_transactions)

),
{% else %}
with entries as (

    select * from {{ ref('stg_ledger__entries') }}

),
{% endif %}

joined as (

    select
        entries.ledger_entry_id,
        entries.ledger_transaction_id,
        transactions.ledger_id,
        entries.ledger_account_id,
        accounts.account_name,
        accounts.account_category,
        accounts.normal_balance,
        transactions.external_id,
        transactions.source,
        transactions.transaction_type,
        transactions.is_payout,
        transactions.transaction_status,
        entries.entry_status,
        entries.direction,
        entries.currency,
        accounts.currency_exponent,
        entries.amount_minor,
        entries.debit_amount_minor,
        entries.credit_amount_minor,
        case when (entries.direction = 'debit') = (accounts.normal_balance = 'debit')
            then entries.amount_minor else -entries.amount_minor
        end as signed_amount_minor,
        entries.effective_at,
        entries.effective_date,
        transactions.posted_at,
        entries.created_at,
        case when transactions._synced_at > entries._synced_at
            then transactions._synced_at else entries._synced_at
        end as _synced_at,
        {{ build_started_at() }} as _built_at
    from entries
    left join {{ ref('int_ledger_transactions__classified') }} as transactions
        on transactions.ledger_transaction_id = entries.ledger_transaction_id
    left join {{ ref('int_ledger_accounts__classified') }} as accounts
        on accounts.ledger_account_id = entries.ledger_account_id

)

{{ with_money_decimals('joined', ['amount', 'signed_amount']) }}
