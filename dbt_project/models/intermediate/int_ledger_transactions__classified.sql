{#-
  Each transaction with its reporting type: metadata.<transaction_type_metadata_key> (lower case), and
  is_payout when that type is in var payout_transaction_types or ledgerable_type is in
  var payout_ledgerable_types (a processor or bank payout the transaction records).
-#}
with typed as (

    select
        transactions.*,
        {{ metadata_key_lower('transactions.transaction_metadata', var('transaction_type_metadata_key')) }} as transaction_type
    from {{ ref('stg_ledger__transactions') }} as transactions

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
