"""The semantic layer, exposures, source freshness and the LookML project, checked against the parsed dbt
project (target/manifest.json and semantic_manifest.json, which ``dbt parse`` writes)."""

from __future__ import annotations

import json

import pytest

from ledger_pipeline import paths
from tests.reporting import lookml


@pytest.fixture(scope="module")
def manifest(dbt_manifest):
    return json.loads((paths.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


def _marts(manifest) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["path"].startswith("marts")}


def test_semantic_models_and_metrics_validate(manifest):
    from dbt_semantic_interfaces.implementations.semantic_manifest import PydanticSemanticManifest
    from dbt_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    raw = json.loads((paths.DBT_PROJECT_DIR / "target" / "semantic_manifest.json").read_text())
    semantic = PydanticSemanticManifest.parse_obj(raw)
    result = SemanticManifestValidator[PydanticSemanticManifest]().validate_semantic_manifest(semantic)
    assert not result.errors, [str(e) for e in result.errors]
    assert {"balance", "volume", "revenue", "variance"} <= {m.name for m in semantic.metrics}
    marts = _marts(manifest)
    for model in semantic.semantic_models:
        assert model.node_relation.alias in marts, model.name


def test_sources_warn_when_not_synced_for_30_minutes(manifest):
    sources = list(manifest["sources"].values())
    assert len(sources) >= 10
    for source in sources:
        assert source["loaded_at_field"] == "_synced_at", source["name"]
        assert source["freshness"]["warn_after"] == {"count": 30, "period": "minute"}, source["name"]


def test_every_exposure_names_marts(manifest):
    marts = {n["unique_id"] for n in _marts(manifest).values()}
    exposures = list(manifest["exposures"].values())
    assert exposures
    for exposure in exposures:
        assert exposure["depends_on"]["nodes"] and set(exposure["depends_on"]["nodes"]) <= marts, exposure["name"]


def test_lookml_views_are_marts_and_explores_name_their_fields(manifest):
    marts = _marts(manifest)
    views = lookml.views()
    assert len(views) >= 5
    for view in views.values():
        assert view.table == f"reporting.{view.name}" and view.name in marts, view.name
        assert view.columns, view.name  # that they exist in the built mart: test_objects_marts
    named, references = lookml.model_references()
    assert named <= set(views)
    for view, field in references:
        assert field in views[view].fields, f"${{{view}.{field}}}"
    looker = next(e for e in manifest["exposures"].values() if e["name"] == "looker_ledger_explore")
    assert {marts[v]["unique_id"] for v in views} <= set(looker["depends_on"]["nodes"])
