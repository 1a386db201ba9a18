{#-
  Each account with its ledger's name and a reporting category, from the categories it sits in (directly or
  through the hierarchy, int_category_accounts), never from its name:
    * cash            - the platform's own money at banks and processors: in a category of var cash_categories;
    * customer_wallet - money held for customers (a liability): in a category of var customer_wallet_categories;
    * other.
  Cash wins over wallet when both match.
-#}
with roles as (

    select
        ledger_account_id,
        max(case when category_name in ({{ sql_string_list(var('cash_categories')) }}) then 1 else 0 end) as is_cash,
        max(case when category_name in ({{ sql_string_list(var('customer_wallet_categories')) }}) then 1 else 0 end)
            as is_customer_wallet
    from {{ ref('int_category_accounts') }}
    group by ledger_account_id

),

typed as (

    select
        accounts.*,
        ledgers.ledger_name,
        {{ metadata_key_lower('accounts.account_metadata', var('account_type_metadata_key')) }} as metadata_account_type,
        roles.is_cash,
        roles.is_customer_wallet
    from {{ ref('stg_ledger__accounts') }} as accounts
    left join {{ ref('stg_ledger__ledgers') }} as ledgers on ledgers.ledger_id = accounts.ledger_id
    left join roles on roles.ledger_account_id = accounts.ledger_account_id

),

classified as (

    select
        typed.ledger_account_id,
        typed.ledger_id,
        typed.ledger_name,
        typed.account_name,
        typed.account_description,
        typed.normal_balance,
        typed.currency,
        typed.currency_exponent,
        typed.account_metadata,
        typed.metadata_account_type,
        typed.ledgerable_type,
        typed.ledgerable_id,
        typed.min_available_balance_minor,
        typed.max_available_balance_minor,
        typed.is_archived,
        typed.archived_at,
        typed.created_at,
        typed.created_date,
        case
            when typed.is_cash = 1 then 'cash'
            when typed.is_customer_wallet = 1 then 'customer_wallet'
            else 'other'
        end as account_category

    from typed

)

select * from classified
