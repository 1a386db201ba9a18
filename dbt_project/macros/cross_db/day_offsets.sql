{#-
  The integers 0 .. 10^digits - 1 as column ``day_offset``, from cross joins of ten digits: portable to every
  warehouse (Redshift has no generate_series over tables, BigQuery no generate_series at all). Five digits
  cover 273 years of days.
-#}
{% macro day_offsets(digits=5) -%}
    {%- set terms = [] -%}
    {%- for i in range(digits) -%}
        {%- do terms.append('d' ~ i ~ '.digit * ' ~ (10 ** i)) -%}
    {%- endfor -%}
    select {{ terms | join(' + ') }} as day_offset
    from
    {%- for i in range(digits) %}
        {% if not loop.first %}cross join {% endif %}(
            {%- for d in range(10) %}select {{ d }} as digit{% if not loop.last %} union all {% endif %}{% endfor -%}
        ) as d{{ i }}
    {%- endfor %}
{%- endmacro %}
