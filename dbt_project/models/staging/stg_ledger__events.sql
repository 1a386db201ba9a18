select
    id as event_id,
    event_type,
    object_type,
    object_id,
    data as event_data,
    created_at,
    {{ utc_date('created_at') }} as created_date,
    _version,
    _synced_at
from {{ source('ledger', 'events') }}
