{#-
  Each transaction with its reporting type, metadata.<transaction_type_metadata_key> (lower case), and
  is_payout: money held at a payment processor or for a customer, paid out through a bank account. By
  categories (int_category_accounts): the transaction lowers the balance of an account in one of
  var payout_from_categories (a processor balance, a customer or seller wallet) and moves an account in one
  of var payout_bank_categories. A transaction whose type is in var payout_transaction_types, or whose
  ledgerable_type is in var payout_ledgerable_types, is a payout too (what a source says outright).
-#}
with typed as (

    select
        transactions.*,
        {{ metadata_key_lower('transactions.transaction_metadata', var('transaction_type_metadata_key')) }} as transaction_type
    from {{ ref('stg_ledger__transactions') }} as transactions

),

account_roles as (

    select
        ledger_account_id,
        max(case when category_name in ({{ sql_string_list(var('payout_from_categories')) }}) then 1 else 0 end)
            as is_payout_from,
        max(case when category_name in ({{ sql_string_list(var('payout_bank_categories')) }}) then 1 else 0 end)
            as is_bank
    from {{ ref('int_category_accounts') }}
    where category_name in ({{ sql_string_list(var('payout_from_categories') + var('payout_bank_categories')) }})
    group by ledger_account_id

),

payout_moves as (

    select entries.ledger_transaction_id
    from {{ ref('stg_ledger__entries') }} as entries
    join account_roles on account_roles.ledger_account_id = entries.ledger_account_id
    join {{ ref('stg_ledger__accounts') }} as accounts on accounts.ledger_account_id = entries.ledger_account_id
    group by entries.ledger_transaction_id
    having max(case when account_roles.is_payout_from = 1
                    and (entries.direction = 'debit') <> (accounts.normal_balance = 'debit') then 1 else 0 end) = 1
        and max(account_roles.is_bank) = 1

),

classified as (

    select
        typed.*,
        coalesce(
            typed.transaction_type in ({{ sql_string_list(var('payout_transaction_types')) }})
            or typed.ledgerable_type in ({{ sql_string_list(var('payout_ledgerable_types')) }})
            or payout_moves.ledger_transaction_id is not null,
            false
        ) as is_payout
    from typed
    left join payout_moves on payout_moves.ledger_transaction_id = typed.ledger_transaction_id

)

select * from classified
