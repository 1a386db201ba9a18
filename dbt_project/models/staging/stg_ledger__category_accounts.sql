{#- The accounts each category holds directly, memberships still in force (removed ones keep their row
    in the source with removed_at). -#}
with source as (

    {{ optional_source('ledger', 'ledger_account_category_accounts', {
        'category_id': 'text', 'ledger_account_id': 'text', 'removed_at': 'timestamp',
        'created_at': 'timestamp', 'updated_at': 'timestamp', '_version': 'bigint',
        '_synced_at': 'timestamp'}) }}

)

select
    category_id,
    ledger_account_id,
    created_at as added_at,
    _version,
    _synced_at
from source
where removed_at is null
