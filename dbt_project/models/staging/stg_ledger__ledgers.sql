select
    id as ledger_id,
    name as ledger_name,
    description as ledger_description,
    metadata as ledger_metadata,
    created_at,
    updated_at,
    _version,
    _synced_at
from {{ source('ledger', 'ledgers') }}
