{#-
  Each transaction with its reporting type: metadata.<transaction_type_metadata_key> (lower case), and
  is_payout when that type is in var payout_transaction_types or ledgerable_type is in
  var payout_ledgerable_types (a processor or bank payout the transaction records).
-#}
with transactions as (

    select * from {{ ref('stg_ledger__transactions') }}

),

typed as (

    select
        transactions.*,
        case when transactions.transaction_metadata is not null and transactions.transaction_metadata <> '{}'
            then lower({{ json_text('transactions.transaction_metadata', var('transaction_type_metadata_key')) }}) end as transaction_type
    from transactions

),

classified as (

    select
        typed.*,
        coalesce(
            typed.transaction_type in ({{ sql_string_list(var('payout_transaction_types')) }})
            or typed.ledgerable_type in ({{ sql_string_list(var('payout_ledgerable_types')) }}),
            false
        ) as is_payout
    from typed

)

select * from classified
