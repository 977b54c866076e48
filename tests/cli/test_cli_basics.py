"""``autohub --version``, ``autohub`` alone, ``--help`` and usage errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import autohub

COMMANDS = ("init", "validate", "list", "show", "events", "db")


def test_version_prints_the_version_and_exits_0(cli):
    _code, stdout, stderr = cli("--version", check=0)
    assert stdout == f"autohub {autohub.__version__}\n"
    assert stderr == ""


def test_version_of_the_console_script_matches(tmp_path):
    script = Path(__import__("sys").executable).with_name("autohub")
    completed = subprocess.run(
        [str(script), "-V"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert (completed.returncode, completed.stdout) == (0, f"autohub {autohub.__version__}\n")


def test_no_arguments_shows_the_help(cli):
    code, stdout, stderr = cli()
    # Click's convention: help shown because of missing arguments is a usage exit (2).
    assert code == 2
    help_text = stdout + stderr
    assert "Usage: autohub [OPTIONS] COMMAND" in help_text
    for command in COMMANDS:
        assert f" {command} " in help_text, command


def test_help_lists_every_command_and_exits_0(cli):
    stdout = cli("--help", check=0).stdout
    assert "Usage: autohub [OPTIONS] COMMAND" in stdout
    for command in COMMANDS:
        assert f" {command} " in stdout, command


def test_unknown_command_is_a_usage_error(cli):
    _code, _stdout, stderr = cli("frobnicate", check=2)
    assert "No such command 'frobnicate'" in stderr
