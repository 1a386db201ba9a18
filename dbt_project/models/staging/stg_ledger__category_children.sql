{#- The categories each category holds directly, memberships still in force. -#}
with source as (

    {{ optional_source('ledger', 'ledger_account_category_children', {
        'parent_category_id': 'text', 'child_category_id': 'text', 'removed_at': 'timestamp',
        'created_at': 'timestamp', 'updated_at': 'timestamp', '_version': 'bigint',
        '_synced_at': 'timestamp'}) }}

)

select
    parent_category_id,
    child_category_id,
    created_at as added_at,
    _version,
    _synced_at
from source
where removed_at is null
