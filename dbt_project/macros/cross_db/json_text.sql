{#-
  The text value of a top-level key of a JSON object stored as text (the ledger's ``metadata`` columns).
  ``key`` comes from configuration (dbt vars), so it is validated as a plain identifier.
-#}
{% macro json_text(column, key) -%}
    {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', key) -%}
        {{ exceptions.raise_compiler_error("json_text: invalid JSON key " ~ key) }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_text', 'ledger_pipeline')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    (cast({{ column }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro snowflake__json_text(column, key) -%}
    cast(try_parse_json({{ column }}):"{{ key }}" as varchar)
{%- endmacro %}

{% macro bigquery__json_text(column, key) -%}
    json_value({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro redshift__json_text(column, key) -%}
    nullif(json_extract_path_text({{ column }}, '{{ key }}', true), '')
{%- endmacro %}

{#-
  The lower-case text of a top-level key of a ``metadata`` column, NULL when the metadata is empty: the
  JSON is parsed only where there is some (most rows carry ``{}``).
-#}
{% macro metadata_key_lower(column, key) -%}
    case when {{ column }} is not null and {{ column }} <> '{}'
        then lower({{ ledger_pipeline.json_text(column, key) }}) end
{%- endmacro %}
