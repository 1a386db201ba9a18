{#-
  The marts' contracts name one type for JSON columns on every warehouse, `jsonb` (a contract's data_type is
  not rendered, so it cannot differ by adapter). PostgreSQL has it; on DuckDB this creates `jsonb` as an
  alias of JSON (columns of the alias are plain JSON). Run before every dbt invocation (on-run-start).
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
