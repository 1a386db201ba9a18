{#- A timestamp before any sync: the watermark of an incremental model whose table has no rows yet. -#}
{% macro epoch_timestamp() -%}
    cast('1970-01-01 00:00:00+00:00' as {{ ledger_pipeline.logical_type('timestamp') }})
{%- endmacro %}
