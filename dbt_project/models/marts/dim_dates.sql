{#-
  The date dimension: one row per day from the first day of fct_daily_account_balances (the earliest
  account or entry) to its last, with the calendar attributes reports group by. Join any *_date column of the
  marts to date_day. Also the time spine of the semantic layer (models/marts/_semantic.yml).
-#}
with bounds as (

    select min(balance_date) as start_date, max(balance_date) as end_date
    from {{ ref('fct_daily_account_balances') }}

),

days as (

    {{ days_between('bounds', 'date_day') }}

),

calendar as (

    select
        date_day,
        {{ month_start('date_day') }} as month_start_date,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start_date,
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(month from date_day) as integer) as calendar_month,
        cast(extract(day from date_day) as integer) as day_of_month,
        {{ month_start('date_day') }} = date_day as is_month_start,
        date_day = cast({{ dbt.last_day('date_day', 'month') }} as date) as is_month_end
    from days

)

select * from calendar
