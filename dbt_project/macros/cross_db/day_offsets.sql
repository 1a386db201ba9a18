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

{#-
  Every day from ``bounds``.start_date to ``bounds``.end_date (both dates columns of the relation or CTE
  ``bounds``) as column ``date_column``: the date spine of the daily marts.
-#}
{% macro days_between(bounds, date_column) -%}
    select {{ add_days(bounds ~ '.start_date', 'day_offsets.day_offset') }} as {{ date_column }}
    from {{ bounds }}
    cross join (
        {{ day_offsets() }}
    ) as day_offsets
    where day_offsets.day_offset <= {{ dbt.datediff(bounds ~ '.start_date', bounds ~ '.end_date', 'day') }}
{%- endmacro %}
