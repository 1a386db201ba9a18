{#-
  Cash position per internal (bank) account: the linked ledger account's current posted balance, and beside
  it the closing balance of the latest bank statement with a closing balance, the ledger's posted balance at
  the end of that statement date, and variance = bank - ledger on that date. An internal account with no
  linked ledger account or no statement yet has NULLs there.
-#}
with internal_accounts as (

    select * from {{ ref('stg_ledger__internal_accounts') }}

),

accounts as (

    select * from {{ ref('int_ledger_accounts__classified') }}
    where ledgerable_type = 'internal_account'

),

ranked_statements as (

    select
        statements.*,
        row_number() over (
            partition by statements.internal_account_id
            order by statements.statement_date desc, statements.statement_position desc, statements.statement_id desc
        ) as recency_rank
    from {{ ref('stg_ledger__bank_statements') }} as statements
    where statements.closing_balance_minor is not null

),

latest_statements as (

    select * from ranked_statements where recency_rank = 1

),

current_balances as (

    select ledger_account_id, posted_amount_minor as posted_balance_minor
    from {{ ref('stg_ledger__account_balances') }}

),

positions as (

    select
        internal_accounts.internal_account_id,
        internal_accounts.internal_account_name,
        internal_accounts.bank_name,
        accounts.ledger_id,
        accounts.ledger_account_id,
        accounts.account_name,
        internal_accounts.currency,
        accounts.currency_exponent,
        current_balances.posted_balance_minor as ledger_posted_balance_minor,
        latest_statements.statement_id,
        latest_statements.statement_date,
        latest_statements.closing_balance_minor as bank_closing_balance_minor,
        days.posted_balance_minor as ledger_balance_on_statement_date_minor,
        latest_statements.closing_balance_minor - coalesce(days.posted_balance_minor, 0) as variance_minor
    from internal_accounts
    left join accounts on accounts.ledgerable_id = internal_accounts.internal_account_id
    left join current_balances on current_balances.ledger_account_id = accounts.ledger_account_id
    left join latest_statements on latest_statements.internal_account_id = internal_accounts.internal_account_id
    left join {{ ref('fct_daily_account_balances') }} as days
        on days.ledger_account_id = accounts.ledger_account_id
        and days.balance_date = latest_statements.statement_date

)

{{ with_money_decimals('positions', ['ledger_posted_balance', 'bank_closing_balance',
                                     'ledger_balance_on_statement_date', 'variance']) }}
