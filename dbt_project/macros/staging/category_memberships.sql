{#-
  A staging model of category memberships (accounts in a category, categories in a category): the ones
  still in force, keyed by ``keys`` (the two id columns); removed ones keep their row in the source with
  removed_at and are left out.
-#}
{% macro category_memberships(table, keys) -%}
with source as (

    {% set columns = {} -%}
    {%- for key in keys %}{% do columns.update({key: 'text'}) %}{% endfor -%}
    {%- do columns.update({'removed_at': 'timestamp', 'created_at': 'timestamp', 'updated_at': 'timestamp',
                           '_version': 'bigint', '_synced_at': 'timestamp'}) -%}
    {{ optional_source('ledger', table, columns) }}

)

select
    {% for key in keys %}{{ key }},
    {% endfor -%}
    created_at as added_at,
    _version,
    _synced_at
from source
where removed_at is null
{%- endmacro %}
