with source as (

    {{ optional_source('ledger', 'bank_statements', {
        'id': 'text', 'internal_account_id': 'text', 'account_identifier': 'text', 'statement_date': 'date',
        'opening_balance': 'amount', 'closing_balance': 'amount', 'currency': 'text', 'statement_ref': 'text',
        'position': 'bigint', 'source_format': 'text', 'source_file': 'text', 'line_count': 'bigint',
        'created_at': 'timestamp', 'control_warning': 'text', '_version': 'bigint',
        '_synced_at': 'timestamp'}) }}

),

renamed as (

    select
        id as statement_id,
        internal_account_id,
        account_identifier,
        cast(statement_date as date) as statement_date,
        opening_balance as opening_balance_minor,
        closing_balance as closing_balance_minor,
        currency,
        statement_ref,
        position as statement_position,
        source_format,
        line_count,
        created_at,
        _version,
        _synced_at
    from source

)

select * from renamed
