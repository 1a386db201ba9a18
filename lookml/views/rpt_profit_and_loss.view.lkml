view: rpt_profit_and_loss {
  sql_table_name: reporting.rpt_profit_and_loss ;;

  dimension: month_ledger_currency {
    primary_key: yes
    hidden: yes
    type: string
    sql: CAST(${TABLE}.activity_month AS VARCHAR) || '-' || ${TABLE}.ledger_id || '-' || ${TABLE}.currency ;;
  }
  dimension_group: activity {
    type: time
    timeframes: [month, quarter, year]
    datatype: date
    convert_tz: no
    sql: ${TABLE}.activity_month ;;
  }
  dimension: currency {
    type: string
    sql: ${TABLE}.currency ;;
  }
  measure: revenue {
    type: sum
    sql: ${TABLE}.revenue ;;
  }
  measure: expenses {
    type: sum
    sql: ${TABLE}.expenses ;;
  }
  measure: net_income {
    type: sum
    sql: ${TABLE}.net_income ;;
  }
}
