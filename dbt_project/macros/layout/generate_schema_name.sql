{#-
  Where each layer is built. The marts, what analysts and BI tools read, are the target's schema itself
  (`reporting` by default, LEDGER_DBT_SCHEMA); staging and intermediate models are in schemas of their own
  named after it (`reporting_staging`, `reporting_intermediate`), so a BI tool pointed at `reporting` lists
  only the marts. The raw tables the sync writes are in their own schema (sources, `ledger` / `main`).
  On BigQuery a schema is a dataset.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none or custom_schema_name | trim == 'marts' -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
