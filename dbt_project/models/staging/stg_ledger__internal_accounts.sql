with source as (

    {{ optional_source('ledger', 'internal_accounts', {
        'id': 'text', 'name': 'text', 'account_identifier': 'text', 'bank_name': 'text', 'currency': 'text',
        'metadata': 'text', 'created_at': 'timestamp', 'updated_at': 'timestamp', '_version': 'bigint',
        '_synced_at': 'timestamp'}) }}

),

renamed as (

    select
        id as internal_account_id,
        name as internal_account_name,
        account_identifier,
        bank_name,
        currency,
        metadata as internal_account_metadata,
        created_at,
        updated_at,
        _version,
        _synced_at
    from source

)

select * from renamed
