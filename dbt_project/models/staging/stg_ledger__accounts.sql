with source as (

    select * from {{ source('ledger', 'ledger_accounts') }}

),

renamed as (

    select
        id as ledger_account_id,
        ledger_id,
        name as account_name,
        description as account_description,
        normal_balance,
        currency,
        cast(currency_exponent as integer) as currency_exponent,
        metadata as account_metadata,
        ledgerable_type,
        ledgerable_id,
        min_available_balance,
        max_available_balance,
        archived_at,
        archived_at is not null as is_archived,
        created_at,
        {{ utc_date('created_at') }} as created_date,
        updated_at,
        _version,
        _synced_at

    from source

)

select * from renamed
