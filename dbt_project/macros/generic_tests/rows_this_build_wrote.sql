{#-
  What a data test checks on the largest tables. A test configured with
      config: {where: "__rows_this_build_wrote__"}
  checks, in a `dbt build` that builds its model, only the rows that build wrote (the model's _built_at is
  the build's start): on an incremental build after a 15-minute tick that is what the tick rewrote, while
  a first build, `dbt build --full-refresh` and every `dbt test` check every row. Rows an earlier build
  wrote were checked by that build. See docs/reporting.md (What a tick checks).
-#}

{#- When this dbt invocation started, as the warehouse's timestamp: the _built_at of every row it writes. -#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00:00' as {{ ledger_pipeline.logical_type('timestamp') }})
{%- endmacro %}

{#- The condition that stands for __rows_this_build_wrote__ in the test being run. -#}
{% macro rows_this_build_wrote() -%}
    {%- set tested = model.get('attached_node') -%}
    {%- if flags.WHICH == 'build' and tested and tested in selected_resources -%}
        _built_at = {{ ledger_pipeline.build_started_at() }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- dbt's own get_where_subquery, with the placeholder above replaced. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__rows_this_build_wrote__' in where -%}
        {%- set where = where | replace('__rows_this_build_wrote__', ledger_pipeline.rows_this_build_wrote()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
