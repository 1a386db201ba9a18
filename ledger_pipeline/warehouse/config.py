"""Warehouse targets, read from a YAML (or TOML) file; secrets come from the environment.

```yaml
targets:
  local:                       # the embedded default (also available when no file exists)
    type: duckdb
    path: var/warehouse.duckdb
    raw_json: false            # true: each table also keeps the exported row as JSON (default false)
  analytics:
    type: postgres
    url: ${WAREHOUSE_PG_URL}   # any string value may use ${ENV_VAR}; resolved when the target is used
    schema: ledger
```

``${VAR}`` references are resolved only when a target is opened, so a file may name targets whose secrets
are not set on this machine, and secrets never sit in the file or in a ``TargetConfig``'s repr.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ledger_pipeline import paths

ENV_CONFIG_PATH = "LEDGER_WAREHOUSE_CONFIG"
DEFAULT_CONFIG_PATH = paths.PROJECT_ROOT / "warehouse.yaml"
DEFAULT_TARGET = "local"
DESTINATION_TYPES = ("duckdb", "postgres", "redshift", "bigquery", "snowflake")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The targets file or a target's settings cannot be used (a bad value, a missing env variable)."""


@dataclass(frozen=True)
class TargetConfig:
    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """An option with its ``${ENV}`` references resolved from the environment now."""
        value = self.options.get(key, default)
        if value is None and required:
            raise ConfigError(f"target {self.name!r} ({self.type}) needs option {key!r}")
        return resolve_env(value, self.name, key)

    def keeps_raw_json(self) -> bool:
        """Whether the destination tables carry ``raw_json`` (option ``raw_json``, default false)."""
        value = self.option("raw_json", False)
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("true", "false", "yes", "no", "1", "0", ""):
                raise ConfigError(f"target {self.name!r}: raw_json must be true or false, not {value!r}")
            return value in ("true", "yes", "1")
        return bool(value)

    def retry_settings(self) -> tuple[int, float, float]:
        """(attempts, first wait, longest wait) in seconds for a destination that is down."""
        retry = self.options.get("retry") or {}
        return (int(retry.get("attempts", 5)), float(retry.get("wait_initial", 1.0)),
                float(retry.get("wait_max", 30.0)))


def resolve_env(value: Any, target: str = "?", key: str = "?") -> Any:
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None:
            if default is not None:
                return default
            raise ConfigError(f"target {target!r}: option {key!r} needs environment variable {name}, which is not set")
        return found

    return _ENV_REF.sub(substitute, value)


def default_targets() -> dict[str, TargetConfig]:
    return {DEFAULT_TARGET: TargetConfig(DEFAULT_TARGET, "duckdb", {"path": str(paths.DEFAULT_WAREHOUSE_PATH)})}


def parse_targets(data: Mapping[str, Any], origin: str = "<config>") -> dict[str, TargetConfig]:
    raw = data.get("targets") if isinstance(data, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{origin}: expected a non-empty 'targets:' mapping")
    targets = default_targets()
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{origin}: target {name!r} must be a mapping")
        kind = str(spec.get("type", "")).lower()
        if kind not in DESTINATION_TYPES:
            raise ConfigError(f"{origin}: target {name!r} has type {kind!r}; expected one of {', '.join(DESTINATION_TYPES)}")
        options = {k: v for k, v in spec.items() if k != "type"}
        targets[str(name)] = TargetConfig(str(name), kind, options)
    return targets


def load_targets(path: str | Path | None = None) -> dict[str, TargetConfig]:
    """Targets from ``path`` (default: ``$LEDGER_WAREHOUSE_CONFIG`` or ``warehouse.yaml`` in the project).

    The embedded DuckDB target ``local`` always exists (a file may redefine it); a missing default file
    means just that target. A path given explicitly must exist.
    """
    explicit = path is not None or os.environ.get(ENV_CONFIG_PATH)
    file = Path(path or os.environ.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)
    if not file.exists():
        if explicit:
            raise ConfigError(f"warehouse targets file not found: {file}")
        return default_targets()
    text = file.read_text()
    try:
        data = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be parsed: {exc}") from exc
    return parse_targets(data or {}, str(file))
