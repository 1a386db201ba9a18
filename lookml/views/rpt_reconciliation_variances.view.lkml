view: rpt_reconciliation_variances {
  sql_table_name: reporting.rpt_reconciliation_variances ;;

  dimension: reconciliation_variance_id {
    primary_key: yes
    type: string
    sql: ${TABLE}.reconciliation_variance_id ;;
  }
  dimension: ledger_account_id {
    type: string
    sql: ${TABLE}.ledger_account_id ;;
  }
  dimension: internal_account_name {
    type: string
    sql: ${TABLE}.internal_account_name ;;
  }
  dimension_group: statement {
    type: time
    timeframes: [date, month]
    datatype: date
    convert_tz: no
    sql: ${TABLE}.statement_date ;;
  }
  dimension: currency {
    type: string
    sql: ${TABLE}.currency ;;
  }
  dimension: is_breach {
    type: yesno
    sql: ${TABLE}.is_breach ;;
  }
  measure: variance {
    description: "bank - ledger, major units"
    type: sum
    sql: ${TABLE}.variance ;;
  }
}
