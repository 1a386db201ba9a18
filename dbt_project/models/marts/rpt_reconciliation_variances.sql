{#-
  Reconciliation variances: for each ledger account linked to a bank account and each statement date,
  the ledger's posted balance against the bank's closing balance (latest computation), variance =
  bank - ledger, and whether it exceeds var reconciliation_tolerance (minor units, default 0).
-#}
with variances as (

    select * from {{ ref('stg_ledger__reconciliation_variances') }}

),

accounts as (

    select ledger_account_id, ledger_id, account_name, currency_exponent
    from {{ ref('int_ledger_accounts__classified') }}

),

internal_accounts as (

    select internal_account_id, internal_account_name, bank_name
    from {{ ref('stg_ledger__internal_accounts') }}

),

joined as (

    select
        variances.reconciliation_variance_id,
        variances.statement_date,
        accounts.ledger_id,
        variances.ledger_account_id,
        accounts.account_name,
        variances.internal_account_id,
        internal_accounts.internal_account_name,
        internal_accounts.bank_name,
        variances.statement_id,
        variances.currency,
        accounts.currency_exponent,
        variances.ledger_balance_minor,
        variances.bank_balance_minor,
        variances.variance_minor,
        case when variances.variance_minor < 0 then -variances.variance_minor else variances.variance_minor end as absolute_variance_minor,
        case when variances.variance_minor < 0 then -variances.variance_minor else variances.variance_minor end
            > {{ var('reconciliation_tolerance', 0) }} as is_breach,
        variances.reconciliation_run_id,
        variances.computed_at
    from variances
    left join accounts on accounts.ledger_account_id = variances.ledger_account_id
    left join internal_accounts on internal_accounts.internal_account_id = variances.internal_account_id

)

{{ with_money_decimals('joined', ['ledger_balance', 'bank_balance', 'variance']) }}
