-- Posted volume per currency in rpt_transaction_volume equals the posted debits in fct_ledger_entries.
{{ config(meta={'dagster': {'ref': {'name': 'rpt_transaction_volume'}}}) }}
with report as (
    select currency, sum(posted_volume_minor) as volume_minor
    from {{ ref('rpt_transaction_volume') }}
    group by currency
),

entries as (
    select currency, sum(debit_amount_minor) as volume_minor
    from {{ ref('fct_ledger_entries') }}
    where transaction_status = 'posted'
    group by currency
)

select coalesce(report.currency, entries.currency) as currency, report.volume_minor, entries.volume_minor
from report
full outer join entries on entries.currency = report.currency
where coalesce(report.volume_minor, -1) <> coalesce(entries.volume_minor, -1)
