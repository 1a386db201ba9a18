# The ledger's marts for Looker: set `connection` to the Looker connection of the warehouse, and the schema
# in each view's sql_table_name if the dbt target schema is not `reporting` (docs/bi.md).
connection: "ledger_warehouse"

include: "/views/*.view.lkml"

# Balances of every account on every day, with the account's attributes and the calendar.
explore: fct_daily_account_balances {
  label: "Ledger balances"
  join: dim_ledger_accounts {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fct_daily_account_balances.ledger_account_id} = ${dim_ledger_accounts.ledger_account_id} ;;
  }
  join: dim_dates {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fct_daily_account_balances.balance_date} = ${dim_dates.date_day} ;;
  }
}

explore: fct_daily_category_balances {
  label: "Category balances"
  join: dim_dates {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fct_daily_category_balances.balance_date} = ${dim_dates.date_day} ;;
  }
}

explore: rpt_profit_and_loss {
  label: "Profit and loss"
}

explore: rpt_reconciliation_variances {
  label: "Reconciliation variances"
  join: dim_ledger_accounts {
    type: left_outer
    relationship: many_to_one
    sql_on: ${rpt_reconciliation_variances.ledger_account_id} = ${dim_ledger_accounts.ledger_account_id} ;;
  }
}
