{#-
  Money is stored and summed as exact integers of minor units (NUMERIC(38,0)). This macro is the one place
  where such an integer becomes a decimal amount in currency units, using the currency's exponent:
  12345 with exponent 2 -> 123.45; 1 with exponent 18 (ETH wei) -> 0.000000000000000001.

  It never goes through floating point: the integer is multiplied by an exact decimal literal 10^-exponent
  picked by a CASE over 0..money_decimal_scale (every warehouse's DECIMAL multiplication is exact). Types:
    * DuckDB, PostgreSQL, Snowflake, Redshift: DECIMAL(38, money_decimal_scale), the type the marts'
      contracts declare; the value is NULL (never wrong) when |amount| >= 10^(38 - scale) minor units, and
      the build fails (test assert_currency_exponents_fit_the_decimal_scale) when a currency's exponent is
      above the scale;
    * BigQuery: BIGNUMERIC, exact for every amount a NUMERIC(38,0) can hold.
-#}
{% macro money_decimal(amount, exponent) -%}
    {{ return(adapter.dispatch('money_decimal', 'ledger_pipeline')(amount, exponent)) }}
{%- endmacro %}

{% macro _minor_unit_literal(exponent) -%}
    {%- if exponent == 0 -%}1{%- else -%}0.{{ '0' * (exponent - 1) }}1{%- endif -%}
{%- endmacro %}

{% macro _minor_unit_factor(exponent, literal_prefix='') -%}
    case {{ exponent }}
    {%- for e in range(var('money_decimal_scale') | int + 1) %} when {{ e }} then {{ literal_prefix }}{% if literal_prefix %}'{% endif %}{{ ledger_pipeline._minor_unit_literal(e) }}{% if literal_prefix %}'{% endif %}{% endfor %}
    end
{%- endmacro %}

{% macro default__money_decimal(amount, exponent) -%}
    {%- set scale = var('money_decimal_scale') | int -%}
    case when abs({{ amount }}) < {{ 10 ** (38 - scale) }}
        then cast(cast({{ amount }} as decimal(38, 0)) * {{ ledger_pipeline._minor_unit_factor(exponent) }} as decimal(38, {{ scale }}))
    end
{%- endmacro %}

{% macro postgres__money_decimal(amount, exponent) -%}
    {#- NUMERIC without a typmod keeps the exponent's own scale; the contracts' column type holds it exactly. -#}
    {%- set scale = var('money_decimal_scale') | int -%}
    case when abs({{ amount }}) < {{ 10 ** (38 - scale) }}
        then cast({{ amount }} as numeric) * {{ ledger_pipeline._minor_unit_factor(exponent) }}
    end
{%- endmacro %}

{% macro bigquery__money_decimal(amount, exponent) -%}
    (cast({{ amount }} as bignumeric) * {{ ledger_pipeline._minor_unit_factor(exponent, 'bignumeric ') }})
{%- endmacro %}

{% macro duckdb__money_decimal(amount, exponent) -%}
    {{ ledger_pipeline.default__money_decimal(amount, exponent) }}
{%- endmacro %}

{% macro snowflake__money_decimal(amount, exponent) -%}
    {{ ledger_pipeline.default__money_decimal(amount, exponent) }}
{%- endmacro %}

{% macro redshift__money_decimal(amount, exponent) -%}
    {{ ledger_pipeline.default__money_decimal(amount, exponent) }}
{%- endmacro %}

{#-
  ``select <relation>.*, <column> ... from <relation>``: every column of ``relation`` (a CTE) and, for each
  name in ``columns``, the exact decimal amount in currency units named ``<column>``, from the integer of
  minor units ``<column>_minor`` beside it, scaled by the relation's exponent column. Integer money columns
  always end in ``_minor``, so a sum of cents is never mistaken for a sum of dollars. The last step of every
  mart that shows money.
-#}
{% macro with_money_decimals(relation, columns, exponent='currency_exponent') -%}
    select
        {{ relation }}.*,
        {%- for column in columns %}
        {{ ledger_pipeline.money_decimal(relation ~ '.' ~ column ~ '_minor', relation ~ '.' ~ exponent) }} as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
{%- endmacro %}
