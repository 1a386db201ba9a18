{#-
  The decimal presentation column, scaled back up by 10^exponent, equals the integer column exactly. It may
  be NULL only where money_decimal documents it (an amount beyond the decimal type's range).
-#}
{% test money_decimal_matches_integer(model, column_name, integer_column, exponent_column) %}
    {%- set scale = var('money_decimal_scale') | int -%}
    select {{ column_name }}, {{ integer_column }}, {{ exponent_column }}
    from {{ model }}
    where {{ integer_column }} is not null
      and (
        ({{ column_name }} is null
            and abs({{ integer_column }}) < {{ 10 ** (38 - scale) }}
            and {{ exponent_column }} between 0 and {{ scale }})
        or cast({{ column_name }} * (case {{ exponent_column }}
            {%- for e in range(scale + 1) %} when {{ e }} then {{ 10 ** e }}{% endfor %} end) as decimal(38, 0))
            <> {{ integer_column }}
      )
{% endtest %}
