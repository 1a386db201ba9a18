{#- The accounts each category holds directly, memberships still in force. -#}
{{ category_memberships('ledger_account_category_accounts', ['category_id', 'ledger_account_id']) }}
