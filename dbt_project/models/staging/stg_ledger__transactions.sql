with source as (

    select * from {{ source('ledger', 'ledger_transactions') }}

),

renamed as (

    select
        id as ledger_transaction_id,
        ledger_id,
        external_id,
        status as transaction_status,
        description as transaction_description,
        effective_at,
        {{ utc_date('effective_at') }} as effective_date,
        posted_at,
        archived_at,
        created_at,
        updated_at,
        coalesce(source, 'unknown') as source,
        ledgerable_type,
        ledgerable_id,
        reverses_id,
        metadata as transaction_metadata,
        version as transaction_version,
        _synced_at

    from source

)

select * from renamed
