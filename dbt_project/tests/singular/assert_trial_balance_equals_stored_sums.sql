-- The trial balance, recomputed from entries in the warehouse, equals the posted sums the ledger stores
-- for every account (the warehouse side of docs/design.md rule 8).
{{ config(meta={'dagster': {'ref': {'name': 'rpt_trial_balance'}}}) }}
select
    trial.ledger_account_id,
    trial.total_debits_minor, ledger.posted_debits_minor,
    trial.total_credits_minor, ledger.posted_credits_minor
from {{ ref('rpt_trial_balance') }} as trial
left join {{ ref('stg_ledger__account_balances') }} as ledger
    on ledger.ledger_account_id = trial.ledger_account_id
where coalesce(ledger.posted_debits_minor, 0) <> trial.total_debits_minor
    or coalesce(ledger.posted_credits_minor, 0) <> trial.total_credits_minor
