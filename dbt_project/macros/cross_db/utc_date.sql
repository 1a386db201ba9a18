{#- The calendar day (UTC) of a timestamp with time zone, whatever the session's time zone is. -#}
{% macro utc_date(timestamp) -%}
    {{ return(adapter.dispatch('utc_date', 'ledger_pipeline')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_date(timestamp) -%}
    cast(timezone('UTC', {{ timestamp }}) as date)
{%- endmacro %}

{#- DuckDB: the profile pins the session's TimeZone to UTC, so a plain cast is the UTC day (and avoids an
    ICU conversion per row on millions of entries). -#}
{% macro duckdb__utc_date(timestamp) -%}
    cast({{ timestamp }} as date)
{%- endmacro %}

{% macro snowflake__utc_date(timestamp) -%}
    cast(convert_timezone('UTC', {{ timestamp }}) as date)
{%- endmacro %}

{% macro redshift__utc_date(timestamp) -%}
    cast(convert_timezone('UTC', {{ timestamp }}) as date)
{%- endmacro %}

{% macro bigquery__utc_date(timestamp) -%}
    date({{ timestamp }}, 'UTC')
{%- endmacro %}

{#- Today's date in UTC. -#}
{% macro utc_today() -%}
    {{ ledger_pipeline.utc_date(dbt.current_timestamp()) }}
{%- endmacro %}

{#- The first day of the month of a date, as a date. -#}
{% macro month_start(date) -%}
    cast({{ dbt.date_trunc('month', date) }} as date)
{%- endmacro %}

{#- A date ``days`` days after ``date``, as a date. -#}
{% macro add_days(date, days) -%}
    cast({{ dbt.dateadd('day', days, date) }} as date)
{%- endmacro %}
