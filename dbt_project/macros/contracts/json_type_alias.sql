{#-
  The marts' contracts name `jsonb` for JSON columns on DuckDB and PostgreSQL (var contract_types). PostgreSQL
  has it; on DuckDB this creates `jsonb` as an alias of JSON (columns of the alias are plain JSON). Run
  before every dbt invocation (on-run-start).
-#}
{% macro json_type_alias() -%}
    {{ return(adapter.dispatch('json_type_alias', 'ledger_pipeline')()) }}
{%- endmacro %}

{% macro default__json_type_alias() -%}
    select 1
{%- endmacro %}

{% macro duckdb__json_type_alias() -%}
    create type if not exists jsonb as json
{%- endmacro %}
