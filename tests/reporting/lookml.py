"""Reading the LookML project in lookml/ enough to check it against the dbt models: views, the table and
columns each one reads, the fields it defines, and the views the explores name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LOOKML_DIR = Path(__file__).resolve().parents[2] / "lookml"


@dataclass(frozen=True)
class View:
    name: str
    table: str  # schema.table of sql_table_name
    columns: frozenset[str]  # ${TABLE}.column references
    fields: frozenset[str]  # dimensions, dimension groups and measures defined


def views() -> dict[str, View]:
    found = {}
    for path in sorted((LOOKML_DIR / "views").glob("*.view.lkml")):
        text = path.read_text()
        name = re.search(r"^view:\s*(\w+)\s*\{", text, re.M).group(1)
        table = re.search(r"sql_table_name:\s*([\w.]+)\s*;;", text).group(1)
        columns = frozenset(re.findall(r"\$\{TABLE\}\.(\w+)", text))
        fields = set(re.findall(r"^\s*(?:dimension|measure):\s*(\w+)", text, re.M))
        for group, timeframes in re.findall(r"dimension_group:\s*(\w+)\s*\{.*?timeframes:\s*\[([^\]]*)\]", text, re.S):
            fields |= {f"{group}_{t.strip()}" for t in timeframes.split(",")}
        found[name] = View(name, table, columns, frozenset(fields))
    return found


def model_references() -> tuple[set[str], set[tuple[str, str]]]:
    """The views the model file's explores and joins name, and its ``${view.field}`` references."""
    text = (LOOKML_DIR / "ledger.model.lkml").read_text()
    named = set(re.findall(r"^\s*(?:explore|join):\s*(\w+)", text, re.M))
    return named, set(re.findall(r"\$\{(\w+)\.(\w+)\}", text))
