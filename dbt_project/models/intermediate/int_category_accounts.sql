{#-
  Every category with every ledger account it holds, directly or through its descendants (the hierarchy
  walked with a recursive CTE), once per pair however many paths lead there: what balances of a category
  roll up, and what the reports select accounts by.
-#}
with recursive descendants (category_id, descendant_id) as (

    select category_id, category_id
    from {{ ref('stg_ledger__categories') }}

    union

    select descendants.category_id, children.child_category_id
    from descendants
    join {{ ref('stg_ledger__category_children') }} as children
        on children.parent_category_id = descendants.descendant_id

)

select distinct
    categories.category_id,
    categories.category_name,
    categories.ledger_id,
    categories.normal_balance,
    memberships.ledger_account_id
from descendants
join {{ ref('stg_ledger__categories') }} as categories on categories.category_id = descendants.category_id
join {{ ref('stg_ledger__category_accounts') }} as memberships on memberships.category_id = descendants.descendant_id
