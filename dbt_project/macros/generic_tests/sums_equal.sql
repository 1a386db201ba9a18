{#-
  Fails for every group where the sum of ``left`` differs from the sum of ``right``: the double-entry
  invariants (each transaction balanced per currency; the trial balance zero per currency and day).
  Integers are compared, so "equal" means exactly equal.
-#}
{% test sums_equal(model, group_by, left, right, where_clause=none) %}
    select
        {{ group_by | join(', ') }},
        sum({{ left }}) as left_total,
        sum({{ right }}) as right_total
    from {{ model }}
    {% if where_clause %}where {{ where_clause }}{% endif %}
    group by {{ group_by | join(', ') }}
    having sum({{ left }}) <> sum({{ right }})
{% endtest %}
