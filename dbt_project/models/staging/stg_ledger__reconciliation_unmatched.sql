{#- Bank and ledger items the latest reconciliation runs left unmatched (open) or later matched (resolved). -#}
with source as (

    {{ optional_source('ledger', 'recon_unmatched', {
        'side': 'text', 'item_id': 'text', 'internal_account_id': 'text', 'ledger_account_id': 'text',
        'item_date': 'date', 'amount': 'amount', 'currency': 'text', 'reference': 'text', 'description': 'text',
        'reason': 'text', 'age_days': 'integer', 'as_of': 'date', 'status': 'text', 'first_run_id': 'text',
        'last_run_id': 'text', 'resolved_at': 'timestamp', '_version': 'bigint', '_synced_at': 'timestamp'}) }}

)

select
    side,
    item_id,
    internal_account_id,
    ledger_account_id,
    cast(item_date as date) as item_date,
    amount as amount_minor,
    currency,
    reference,
    description,
    reason as break_reason,
    age_days,
    cast(as_of as date) as as_of_date,
    status as break_status,
    first_run_id,
    last_run_id,
    resolved_at,
    _version,
    _synced_at
from source
