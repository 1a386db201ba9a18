with source as (

    {{ optional_source('ledger', 'ledger_account_categories', {
        'id': 'text', 'ledger_id': 'text', 'name': 'text', 'description': 'text', 'normal_balance': 'text',
        'currency': 'text', 'archived_at': 'timestamp', 'created_at': 'timestamp', 'updated_at': 'timestamp',
        '_version': 'bigint', '_synced_at': 'timestamp'}) }}

),

renamed as (

    select
        id as category_id,
        ledger_id,
        name as category_name,
        description as category_description,
        normal_balance,
        currency,
        archived_at is not null as is_archived,
        archived_at,
        created_at,
        updated_at,
        _version,
        _synced_at
    from source

)

select * from renamed
