"""Which sources run under Dagster, and how: ``sources.yaml`` (beside the warehouse targets file) and the
environment.

```yaml
sources:
  stripe:
    api: true                      # pull the API; the key is STRIPE_API_KEY in the environment
    streams: [balance_transactions, payouts]   # default: every stream of the connector
    schedule: "*/5 * * * *"        # default: every 15 minutes
  quickbooks:
    api: true
    base_url: ${QUICKBOOKS_SANDBOX_URL}        # ${ENV} references are resolved when a run starts
  bank:
    files: false                   # do not read the landing folder's bank/ sub-folder
```

* A source's API mode is on when the file says ``api: true`` or when ``LEDGER_API_SOURCES`` lists it
  (comma-separated). Credentials are never in the file: the connector reads them from the environment when
  a pull starts (``STRIPE_API_KEY``, ``LITHIC_API_KEY``, ...), and a key that looks like a secret
  (``api_key``, ``token``, ``password``, ``secret`` ...) is refused. A source that is not switched on has no
  API asset and no schedule, so it cannot fail.
* File mode (the landing folder's ``<source>/`` sub-folder) is on for every source that has a file parser,
  unless the file says ``files: false``; an empty folder is a run that lands nothing.
* The file is ``LEDGER_SOURCES_CONFIG`` or ``sources.yaml`` in the project; no file means no API source
  except those of ``LEDGER_API_SOURCES``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ledger_pipeline import paths
from ledger_pipeline.ingest.sources import SOURCES, SourceSpec
from ledger_pipeline.warehouse.config import resolve_env

ENV_CONFIG_PATH = "LEDGER_SOURCES_CONFIG"
ENV_API_SOURCES = "LEDGER_API_SOURCES"
DEFAULT_CONFIG_PATH = paths.PROJECT_ROOT / "sources.yaml"
DEFAULT_SCHEDULE = "*/15 * * * *"
KEYS = frozenset({"api", "files", "base_url", "streams", "schedule"})
SECRET_WORDS = ("key", "token", "secret", "password", "credential", "auth")


class SourcesConfigError(ValueError):
    """``sources.yaml`` cannot be used (unknown source, key or stream, a secret in the file)."""


@dataclass(frozen=True)
class SourceSettings:
    """How one source runs. ``base_url`` may hold ``${ENV}`` references (see ``api_base_url``)."""

    name: str
    api: bool = False
    files: bool = True
    base_url: str | None = None
    streams: tuple[str, ...] = ()
    schedule: str = DEFAULT_SCHEDULE

    @property
    def spec(self) -> SourceSpec:
        return SOURCES[self.name]

    def api_on(self) -> bool:
        return self.api and bool(self.spec.api_streams)

    def files_on(self) -> bool:
        return self.files and self.spec.file_parser is not None

    def api_stream_names(self) -> tuple[str, ...]:
        return self.streams or tuple(self.spec.api_streams)

    def api_base_url(self) -> str | None:
        """The base URL with its ``${ENV}`` references resolved now (at run time, never at load)."""
        return resolve_env(self.base_url, self.name, "base_url") if self.base_url else None


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise SourcesConfigError(f"{where}: expected true or false, got {value!r}")


def _source_settings(name: str, raw: Any, where: str) -> SourceSettings:
    if name not in SOURCES:
        raise SourcesConfigError(f"{where}: unknown source {name!r}; known: {', '.join(sorted(SOURCES))}")
    raw = raw or {}
    if not isinstance(raw, dict):
        raise SourcesConfigError(f"{where}: expected a mapping of settings")
    for key in raw:
        if any(word in str(key).lower() for word in SECRET_WORDS):
            raise SourcesConfigError(f"{where}.{key}: secrets are not read from this file; set the connector's "
                                     "environment variable instead")
        if key not in KEYS:
            raise SourcesConfigError(f"{where}.{key}: unknown setting; expected one of {', '.join(sorted(KEYS))}")
    spec = SOURCES[name]
    streams = tuple(str(s) for s in raw.get("streams") or ())
    unknown = [s for s in streams if s not in spec.api_streams]
    if unknown:
        raise SourcesConfigError(f"{where}.streams: {', '.join(unknown)} not an API stream of {name} "
                                 f"({', '.join(spec.api_streams) or 'none'})")
    api = _bool(raw.get("api", False), f"{where}.api")
    if api and not spec.api_streams:
        raise SourcesConfigError(f"{where}.api: {name} has no API mode (files only)")
    return SourceSettings(name=name, api=api, files=_bool(raw.get("files", True), f"{where}.files"),
                          base_url=str(raw["base_url"]) if raw.get("base_url") else None, streams=streams,
                          schedule=str(raw.get("schedule") or DEFAULT_SCHEDULE))


def load_sources(environ: Mapping[str, str] | None = None) -> dict[str, SourceSettings]:
    """The settings of every registered source (``ingest.sources.SOURCES``), by name."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    configured: dict[str, SourceSettings] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict) or not isinstance(data.get("sources") or {}, dict):
            raise SourcesConfigError(f"{path}: expected a 'sources:' mapping of source names to settings")
        for name, raw in (data.get("sources") or {}).items():
            configured[name] = _source_settings(str(name), raw, f"{path}: sources.{name}")
    elif env.get(ENV_CONFIG_PATH):
        raise SourcesConfigError(f"{ENV_CONFIG_PATH}={path}: no such file")
    for name in filter(None, (n.strip() for n in env.get(ENV_API_SOURCES, "").split(","))):
        where = f"{ENV_API_SOURCES}: {name}"
        current = configured.get(name) or _source_settings(name, {}, where)
        if not current.spec.api_streams:
            raise SourcesConfigError(f"{where}: {name} has no API mode (files only)")
        configured[name] = replace(current, api=True)
    return {name: configured.get(name) or SourceSettings(name=name) for name in SOURCES}


def active_sources(sources: Mapping[str, SourceSettings]) -> list[SourceSettings]:
    """The sources that run: API mode on, or files on."""
    return [s for s in sources.values() if s.api_on() or s.files_on()]
