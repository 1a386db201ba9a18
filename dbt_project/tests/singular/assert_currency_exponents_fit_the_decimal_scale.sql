{#-
  Every currency's exponent fits var money_decimal_scale, the scale of the marts' decimal amount columns
  (their contracts declare DECIMAL(38, 18)): a currency with more minor-unit digits could not be shown
  exactly, so the build fails rather than round. One row per such currency.
-#}
select currency, max(currency_exponent) as currency_exponent
from {{ ref('stg_ledger__accounts') }}
where currency_exponent > {{ var('money_decimal_scale') | int }}
group by currency
