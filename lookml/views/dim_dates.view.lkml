view: dim_dates {
  sql_table_name: reporting.dim_dates ;;

  dimension: date_day {
    primary_key: yes
    type: date
    sql: ${TABLE}.date_day ;;
  }
  dimension: is_month_end {
    type: yesno
    sql: ${TABLE}.is_month_end ;;
  }
  dimension: calendar_year {
    type: number
    sql: ${TABLE}.calendar_year ;;
  }
  dimension: calendar_month {
    type: number
    sql: ${TABLE}.calendar_month ;;
  }
}
