"""The reporting layer: the dbt project in ``dbt_project/`` as Dagster assets (``reporting/<model>``), built
after the warehouse sync (dbt sources are the ``warehouse/<table>`` assets)."""
