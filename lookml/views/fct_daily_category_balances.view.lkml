view: fct_daily_category_balances {
  sql_table_name: reporting.fct_daily_category_balances ;;

  dimension: category_day {
    primary_key: yes
    hidden: yes
    type: string
    sql: ${TABLE}.category_id || '-' || ${TABLE}.currency || '-' || CAST(${TABLE}.balance_date AS VARCHAR) ;;
  }
  dimension: category_name {
    type: string
    sql: ${TABLE}.category_name ;;
  }
  dimension_group: balance {
    type: time
    timeframes: [date, month, quarter, year]
    datatype: date
    convert_tz: no
    sql: ${TABLE}.balance_date ;;
  }
  dimension: currency {
    type: string
    sql: ${TABLE}.currency ;;
  }
  measure: posted_balance {
    description: "Posted balance of the category in major units; pick one day"
    type: sum
    sql: ${TABLE}.posted_balance ;;
  }
}
