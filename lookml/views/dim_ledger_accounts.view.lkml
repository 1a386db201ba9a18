view: dim_ledger_accounts {
  sql_table_name: reporting.dim_ledger_accounts ;;

  dimension: ledger_account_id {
    primary_key: yes
    type: string
    sql: ${TABLE}.ledger_account_id ;;
  }
  dimension: ledger_name {
    type: string
    sql: ${TABLE}.ledger_name ;;
  }
  dimension: account_name {
    type: string
    sql: ${TABLE}.account_name ;;
  }
  dimension: account_category {
    description: "cash, customer_wallet or other, from the account's categories"
    type: string
    sql: ${TABLE}.account_category ;;
  }
  dimension: normal_balance {
    type: string
    sql: ${TABLE}.normal_balance ;;
  }
  dimension: currency {
    type: string
    sql: ${TABLE}.currency ;;
  }
  dimension: posted_balance {
    label: "Posted balance"
    description: "Current posted balance in major units (exact decimal)"
    type: number
    sql: ${TABLE}.posted_balance ;;
  }
}
