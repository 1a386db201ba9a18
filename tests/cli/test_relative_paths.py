"""Quarantine records name their file relative to the working directory (or the landing folder), never by
its absolute path: neither what is stored nor what ``quarantine list`` prints carries the machine's folders."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run_cli

REPORT = (Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "reports"
          / "balance_change_from_activity_itemized.csv")


def test_a_quarantined_record_names_its_file_relatively(ready_store, tmp_path):
    folder = tmp_path / "exports" / "stripe"
    folder.mkdir(parents=True)
    lines = REPORT.read_text().splitlines()  # the second row's net is off by 1.00: quarantined on import
    (folder / "report.csv").write_text(
        "\n".join(lines[:2] + [lines[2].replace('36.55,"1,213.45"', '36.55,"1,214.45"')]) + "\n")

    run = run_cli("ingest", "stripe", "--file", str(folder / "report.csv"), "--store", ready_store, "--json",
                  cwd=tmp_path)
    assert run.code == 0, run.err
    assert json.loads(run.out)["data"]["quarantined"] == 1

    listed = run_cli("quarantine", "list", "--store", ready_store, "--json", cwd=tmp_path)
    assert listed.code == 0, listed.err
    [item] = json.loads(listed.out)["data"]
    assert item["record_ref"] == "exports/stripe/report.csv, line 3"
    assert "exports/stripe/report.csv, line 3" in item["reason"]
    assert str(tmp_path) not in listed.out

    exported = run_cli("export-csv", "quarantine", "-o", "q.csv", "--store", ready_store, cwd=tmp_path)
    assert exported.code == 0, exported.err
    stored = (tmp_path / "q.csv").read_text()
    assert "exports/stripe/report.csv" in stored and str(tmp_path) not in stored
