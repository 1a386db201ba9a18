"""Asset keys for dbt nodes, derived from the node alone (no model is named here).

* a model (or seed/snapshot) ``x`` -> ``reporting/x``, group ``reporting``;
* a source table ``t`` -> ``warehouse/t``: the table the warehouse sync writes, so every model runs after
  the sync that feeds it and the lineage in the UI goes ledger -> warehouse -> reporting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

REPORTING_LAYER = "reporting"
WAREHOUSE_LAYER = "warehouse"


class ReportingTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([WAREHOUSE_LAYER, dbt_resource_props["name"]])
        return dg.AssetKey([REPORTING_LAYER, name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return REPORTING_LAYER
