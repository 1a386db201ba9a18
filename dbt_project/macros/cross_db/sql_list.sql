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

{#- ``column LIKE p1 OR column LIKE p2 ...`` for the patterns of a dbt var; false when there are none. -#}
{% macro like_any(column, patterns) -%}
    {%- if patterns | length == 0 -%}
        (1 = 0)
    {%- else -%}
        ({% for pattern in patterns %}lower({{ column }}) like '{{ pattern | lower | replace("'", "''") }}'{% if not loop.last %} or {% endif %}{% endfor %})
    {%- endif -%}
{%- endmacro %}
