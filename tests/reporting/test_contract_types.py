"""The models' contract data types, per warehouse: every contract column names a kind from the project's
``contract_types`` table (dbt_project.yml), each warehouse's entry is a type that warehouse accepts (BigQuery's
NUMERIC cannot hold DECIMAL(38,18)), and ``dbt parse`` for each installed adapter renders them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ledger_pipeline import paths

WAREHOUSES = ("duckdb", "postgres", "snowflake", "bigquery", "redshift")
KIND_REF = re.compile(r"^\{\{ var\('contract_types'\)\[target\.type\]\.(\w+) \}\}$")

# The type names each warehouse accepts in DDL, and the (precision, scale) limits of its exact decimals.
ACCEPTED = {
    "duckdb": {"text", "varchar", "timestamptz", "date", "integer", "bigint", "boolean", "jsonb", "json", "decimal"},
    "postgres": {"text", "varchar", "timestamptz", "date", "integer", "bigint", "boolean", "jsonb", "json", "decimal",
                 "numeric"},
    "redshift": {"varchar", "timestamptz", "date", "integer", "bigint", "boolean", "super", "decimal", "numeric"},
    "snowflake": {"varchar", "text", "timestamp_tz", "date", "integer", "bigint", "boolean", "variant", "number",
                  "decimal"},
    "bigquery": {"string", "timestamp", "date", "int64", "bool", "json", "numeric", "bignumeric"},
}


def _project() -> dict:
    return yaml.safe_load((paths.DBT_PROJECT_DIR / "dbt_project.yml").read_text())


def _contract_types() -> dict[str, dict[str, str]]:
    return _project()["vars"]["contract_types"]


def _contracted_columns() -> list[tuple[str, str, str]]:
    """(model, column, data_type) of every column of every model with an enforced contract."""
    found = []
    for path in sorted((paths.DBT_PROJECT_DIR / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if not model.get("config", {}).get("contract", {}).get("enforced"):
                continue
            for column in model.get("columns", []):
                found.append((model["name"], column["name"], column.get("data_type")))
    return found


def _decimal_fits(warehouse: str, name: str, args: list[int], money_scale: int) -> bool:
    if warehouse == "bigquery":
        # NUMERIC(P,S): P - S <= 29, S <= 9; BIGNUMERIC(P,S): P - S <= 38, S <= 38 (bare: 38 and 38).
        precision, scale = (args + [0])[:2] if args else ((38, 9) if name == "numeric" else (76, 38))
        integer_digits = 29 if name == "numeric" else 38
        return precision - scale <= integer_digits and scale <= (9 if name == "numeric" else 38)
    precision, scale = (args + [0])[:2]
    return 1 <= precision <= 38 and 0 <= scale <= precision


def test_every_contract_column_names_a_kind_of_the_table():
    kinds = set(_contract_types()["duckdb"])
    columns = _contracted_columns()
    assert len(columns) > 200
    for model, column, data_type in columns:
        match = KIND_REF.match(data_type or "")
        assert match and match.group(1) in kinds, (model, column, data_type)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_contract_types_are_types_the_warehouse_accepts(warehouse):
    table = _contract_types()
    money_scale = int(_project()["vars"]["money_decimal_scale"])
    assert set(table[warehouse]) == set(table["duckdb"]), warehouse
    for kind, data_type in table[warehouse].items():
        match = re.fullmatch(r"(\w+)(?:\((\d+)(?:,\s*(\d+))?\))?", data_type)
        assert match, (warehouse, kind, data_type)
        name, args = match.group(1).lower(), [int(a) for a in match.groups()[1:] if a is not None]
        assert name in ACCEPTED[warehouse], (warehouse, kind, data_type)
        if name in ("decimal", "numeric", "number", "bignumeric"):
            assert _decimal_fits(warehouse, name, args, money_scale), (warehouse, kind, data_type)
        if kind == "money_minor":
            # whole numbers of up to 38 digits, as the sync's NUMERIC(38,0)
            assert name == "bignumeric" or args == [38, 0], (warehouse, data_type)
        if kind == "money":
            # the decimal amounts' scale is money_decimal_scale (BIGNUMERIC: 38)
            assert (name == "bignumeric" and money_scale <= 38) or args == [38, money_scale], (warehouse, data_type)
        if name == "varchar" and args:
            assert args[0] <= 65535, (warehouse, data_type)
    assert table["bigquery"]["money"] == "bignumeric", "BigQuery NUMERIC is (38,9): DECIMAL(38,18) is invalid"


INSTALLED = [w for w in WAREHOUSES if importlib.util.find_spec(f"dbt.adapters.{w}") is not None]


@pytest.mark.slow
@pytest.mark.parametrize("warehouse", INSTALLED)
def test_parse_renders_the_contract_types_of_each_installed_adapter(warehouse, tmp_path):
    """``dbt parse`` with the warehouse's target (no connection is made) puts that warehouse's types in the
    manifest's contracts. Adapters that are not installed (Snowflake, BigQuery, Redshift here) are covered by
    the table test above."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "LEDGER_DBT_TARGET": warehouse,
           "DBT_LOG_PATH": str(tmp_path / "logs"), "LEDGER_WAREHOUSE_PATH": str(tmp_path / "none.duckdb")}
    dbt = str(Path(sys.executable).parent / "dbt")
    done = subprocess.run([dbt, "parse", "--project-dir", str(paths.DBT_PROJECT_DIR), "--profiles-dir",
                           str(paths.DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target")],
                          cwd=paths.DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    table = _contract_types()[warehouse]
    expected = {(model, column): table[KIND_REF.match(data_type).group(1)]
                for model, column, data_type in _contracted_columns()}
    rendered = {(node["name"], name): column["data_type"] for node in manifest["nodes"].values()
                if node["resource_type"] == "model" and node["config"]["contract"]["enforced"]
                for name, column in node["columns"].items()}
    assert rendered == expected
    assert rendered[("fct_ledger_entries", "amount_minor")] == table["money_minor"]
