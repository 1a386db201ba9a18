{#-
  ``select * from`` a source table that may not exist yet (tables of optional components, e.g. the
  reconciliation results, which the sync exports once that component's tables exist in the store). When the
  table is missing, an empty relation with the given columns (name -> logical type) stands in, so the
  reports still build and simply show no rows. The source() call keeps the lineage in either case.
-#}
{% macro optional_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and load_relation(relation) is none -%}
        {{ log("source " ~ source_name ~ "." ~ table_name ~ " does not exist yet: building from no rows", info=true) }}
        select
        {%- for name, kind in columns.items() %}
            cast(null as {{ ledger_pipeline.logical_type(kind) }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        from (select 1 as one) as no_rows
        where 1 = 0
    {%- else -%}
        select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- The warehouse spelling of the sync's logical column types (docs/warehouse.md). -#}
{% macro logical_type(kind) -%}
    {{ return(adapter.dispatch('logical_type', 'ledger_pipeline')(kind)) }}
{%- endmacro %}

{% macro default__logical_type(kind) -%}
    {{ {'text': dbt.type_string(), 'amount': 'decimal(38, 0)', 'bigint': dbt.type_bigint(),
        'integer': dbt.type_int(), 'timestamp': 'timestamp with time zone', 'date': 'date',
        'boolean': dbt.type_boolean()}[kind] }}
{%- endmacro %}

{% macro bigquery__logical_type(kind) -%}
    {{ {'text': 'string', 'amount': 'bignumeric', 'bigint': 'int64', 'integer': 'int64',
        'timestamp': 'timestamp', 'date': 'date', 'boolean': 'bool'}[kind] }}
{%- endmacro %}

{% macro snowflake__logical_type(kind) -%}
    {{ {'text': 'varchar', 'amount': 'number(38, 0)', 'bigint': 'number(19, 0)', 'integer': 'number(10, 0)',
        'timestamp': 'timestamp_tz', 'date': 'date', 'boolean': 'boolean'}[kind] }}
{%- endmacro %}
