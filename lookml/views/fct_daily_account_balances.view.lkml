view: fct_daily_account_balances {
  sql_table_name: reporting.fct_daily_account_balances ;;

  dimension: account_day {
    primary_key: yes
    hidden: yes
    type: string
    sql: ${TABLE}.ledger_account_id || '-' || CAST(${TABLE}.balance_date AS VARCHAR) ;;
  }
  dimension: ledger_account_id {
    type: string
    sql: ${TABLE}.ledger_account_id ;;
  }
  dimension_group: balance {
    type: time
    timeframes: [date, month, quarter, year]
    datatype: date
    convert_tz: no
    sql: ${TABLE}.balance_date ;;
  }
  dimension: account_category {
    type: string
    sql: ${TABLE}.account_category ;;
  }
  dimension: currency {
    description: "Never add amounts of different currencies: filter or group by currency"
    type: string
    sql: ${TABLE}.currency ;;
  }
  dimension: posted_balance {
    hidden: yes
    type: number
    sql: ${TABLE}.posted_balance ;;
  }
  measure: total_posted_balance {
    label: "Posted balance"
    description: "Sum of posted balances in major units; pick one day (a balance is not additive over time)"
    type: sum
    sql: ${posted_balance} ;;
  }
}
