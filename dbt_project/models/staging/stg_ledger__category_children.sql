{#- The categories each category holds directly, memberships still in force. -#}
{{ category_memberships('ledger_account_category_children', ['parent_category_id', 'child_category_id']) }}
