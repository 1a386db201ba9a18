{#-
  Balance reconciliation results. The reconciler stores a row per run, account and statement date; only
  the latest computation of each (ledger account, statement date) is kept, as variance_breaches() does.
-#}
with source as (

    {{ optional_source('ledger', 'recon_balance_variances', {
        'id': 'text', 'internal_account_id': 'text', 'ledger_account_id': 'text', 'statement_id': 'text',
        'statement_date': 'date', 'currency': 'text', 'ledger_balance': 'amount', 'bank_balance': 'amount',
        'variance': 'amount', 'run_id': 'text', 'computed_at': 'timestamp', '_version': 'bigint',
        '_synced_at': 'timestamp'}) }}

),

ranked as (

    select
        source.*,
        row_number() over (
            partition by ledger_account_id, statement_date
            order by computed_at desc, id desc
        ) as recency_rank
    from source

),

renamed as (

    select
        id as reconciliation_variance_id,
        internal_account_id,
        ledger_account_id,
        statement_id,
        cast(statement_date as date) as statement_date,
        currency,
        ledger_balance as ledger_balance_minor,
        bank_balance as bank_balance_minor,
        variance as variance_minor,
        run_id as reconciliation_run_id,
        computed_at,
        _version,
        _synced_at
    from ranked
    where recency_rank = 1

)

select * from renamed
