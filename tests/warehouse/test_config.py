"""Targets file: YAML and TOML, ${ENV} secrets resolved only when a target is used, clear errors."""

from __future__ import annotations

import pytest

from ledger_pipeline.warehouse import ConfigError, load_targets
from ledger_pipeline.warehouse.config import DEFAULT_TARGET


def test_yaml_targets_and_env_secrets(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.yaml"
    path.write_text("targets:\n  analytics:\n    type: postgres\n    url: postgresql://u:${WH_PW}@db/x\n"
                    "    schema: ledger\n    retry: {attempts: 7, wait_initial: 2}\n")
    targets = load_targets(path)
    assert set(targets) == {"analytics", DEFAULT_TARGET}
    analytics = targets["analytics"]
    assert "${WH_PW}" in repr(analytics)  # the secret is not read into the config
    with pytest.raises(ConfigError, match="WH_PW"):
        analytics.option("url")
    monkeypatch.setenv("WH_PW", "s3cret")
    assert analytics.option("url") == "postgresql://u:s3cret@db/x"
    assert analytics.retry_settings() == (7, 2.0, 30.0)


def test_toml_targets(tmp_path):
    path = tmp_path / "warehouse.toml"
    path.write_text('[targets.lake]\ntype = "duckdb"\npath = "var/other.duckdb"\n')
    assert load_targets(path)["lake"].option("path") == "var/other.duckdb"


@pytest.mark.parametrize("text, message", [
    ("targets: {x: {type: oracle}}", "type 'oracle'"),
    ("nothing: here", "targets"),
    ("targets: [", "cannot be parsed"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "warehouse.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_targets(path)


def test_default_local_target_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LEDGER_WAREHOUSE_CONFIG", raising=False)
    monkeypatch.setattr("ledger_pipeline.warehouse.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml")
    assert list(load_targets()) == [DEFAULT_TARGET]
    with pytest.raises(ConfigError, match="not found"):
        load_targets(tmp_path / "absent.yaml")


def test_default_value_in_env_reference(monkeypatch):
    from ledger_pipeline.warehouse.config import resolve_env

    monkeypatch.delenv("WH_UNSET", raising=False)
    assert resolve_env("${WH_UNSET:-fallback}") == "fallback"
