"""``--version``, and help for every option and argument, with values named by what they hold."""

from __future__ import annotations

import re

import typer

from ledger_pipeline.cli.main import _tidy_help, app
from tests.cli.conftest import run_cli


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_option_and_argument_has_help():
    command = typer.main.get_command(app)
    _tidy_help(command)
    missing = [f"{' '.join(path)} {p.name}" for path, cmd in _commands(command) for p in cmd.params
               if not getattr(p, "hidden", False) and not (getattr(p, "help", None) or "").strip()]
    assert missing == []


def test_version(tmp_path):
    run = run_cli("--version", cwd=tmp_path)
    assert run.code == 0
    assert re.fullmatch(r"ledger-pipeline \d+\.\d+\.\d+\S*\n", run.out)


def test_help_names_values_not_python_types(tmp_path):
    for args in (["post", "--help"], ["ingest", "--help"], ["balances", "--help"]):
        run = run_cli(*args, cwd=tmp_path)
        assert run.code == 0
        for soup in ("<bool>", "<str>", "<int>", "list[", "%Y"):
            assert soup not in run.out, (args, soup, run.out)


def test_no_command_help_shows_python_types(capsys):
    command = typer.main.get_command(app)
    _tidy_help(command)
    for path, _ in _commands(command):
        try:
            command.main(args=[*path, "--help"], prog_name="ledger-pipeline", standalone_mode=False)
        except SystemExit:
            pass
        out = capsys.readouterr().out
        assert "Usage:" in out, path
        assert not re.findall(r"<[a-z][\w\[\]]*>|list\[|%Y", out), (path, out)
