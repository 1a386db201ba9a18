{#-
  One row per ledger entry, with its transaction and account. signed_amount is the entry's effect on its
  account's balance in the account's normal direction (a debit raises a debit-normal account).
  Left joins: an entry whose transaction or account is missing stays, with NULLs that the not_null tests
  on ledger_id and normal_balance catch (the referential checks, in the scan that builds the table).
-#}
with joined as (

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
        entries.created_at
    from {{ ref('stg_ledger__entries') }} as entries
    left join {{ ref('int_ledger_transactions__classified') }} as transactions
        on transactions.ledger_transaction_id = entries.ledger_transaction_id
    left join {{ ref('int_ledger_accounts__classified') }} as accounts
        on accounts.ledger_account_id = entries.ledger_account_id

)

{{ with_money_decimals('joined', ['amount', 'signed_amount']) }}
