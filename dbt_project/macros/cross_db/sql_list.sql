{#- A list of strings from a dbt var as a SQL list of quoted literals (``'a', 'b'``); NULL when empty. -#}
{% macro sql_string_list(values) -%}
    {%- if values | length == 0 -%}
        null
    {%- else -%}
        {%- for value in values -%}
            '{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
