{#-
  Profit and loss per month, ledger and currency: revenue (the net movement of the categories in
  var revenue_categories), expenses (var expense_categories) and net income = revenue - expenses, from
  rpt_category_monthly_activity. An account in both a revenue and an expense category would count twice:
  keep the two apart in the chart.
-#}
with activity as (

    select * from {{ ref('rpt_category_monthly_activity') }}

),

pnl as (

    select
        activity_month,
        ledger_id,
        currency,
        max(currency_exponent) as currency_exponent,
        sum(case when category_name in ({{ sql_string_list(var('revenue_categories')) }})
            then net_amount_minor else 0 end) as revenue_minor,
        sum(case when category_name in ({{ sql_string_list(var('expense_categories')) }})
            then net_amount_minor else 0 end) as expenses_minor
    from activity
    where category_name in ({{ sql_string_list(var('revenue_categories') + var('expense_categories')) }})
    group by activity_month, ledger_id, currency

),

netted as (

    select pnl.*, pnl.revenue_minor - pnl.expenses_minor as net_income_minor
    from pnl

)

{{ with_money_decimals('netted', ['revenue', 'expenses', 'net_income']) }}
