{#-
  Each account with its ledger's name and a reporting category:
    * cash            - the platform's own money at a bank: metadata.<account_type_metadata_key> in
                        var cash_account_types, or ledgerable_type in var cash_ledgerable_types (a link to
                        an internal bank account, Modern Treasury's `internal_account`), or the account's
                        name in var cash_account_names;
    * customer_wallet - money held for customers (a liability): metadata type in
                        var customer_wallet_account_types, or the name matches var customer_wallet_name_patterns;
    * other.
  Cash wins over wallet when both match.
-#}
with typed as (

    select
        accounts.*,
        ledgers.ledger_name,
        {{ metadata_key_lower('accounts.account_metadata', var('account_type_metadata_key')) }} as metadata_account_type
    from {{ ref('stg_ledger__accounts') }} as accounts
    left join {{ ref('stg_ledger__ledgers') }} as ledgers on ledgers.ledger_id = accounts.ledger_id

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
        typed.min_available_balance,
        typed.max_available_balance,
        typed.is_archived,
        typed.archived_at,
        typed.created_at,
        typed.created_date,
        case
            when typed.metadata_account_type in ({{ sql_string_list(var('cash_account_types')) }})
                or typed.ledgerable_type in ({{ sql_string_list(var('cash_ledgerable_types')) }})
                or typed.account_name in ({{ sql_string_list(var('cash_account_names')) }})
                then 'cash'
            when typed.metadata_account_type in ({{ sql_string_list(var('customer_wallet_account_types')) }})
                or {{ like_any('typed.account_name', var('customer_wallet_name_patterns')) }}
                then 'customer_wallet'
            else 'other'
        end as account_category

    from typed

)

select * from classified
