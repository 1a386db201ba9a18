{#-
  An amount signed by a normal balance, as Modern Treasury signs balances: credits - debits for a credit-normal
  account or category, debits - credits for a debit-normal one.
-#}
{% macro normal_signed(normal_balance, debits, credits) -%}
    case when {{ normal_balance }} = 'credit'
            then {{ credits }} - {{ debits }}
            else {{ debits }} - {{ credits }}
        end
{%- endmacro %}
