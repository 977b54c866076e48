"""Configuration: autohub.yaml plus AUTOHUB_* variables, secrets never in the file."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from autohub.config import DEFAULT_DATABASE_URL, find_config, load_config
from autohub.errors import ConfigError, SecretsError
from autohub.secret_values import Secrets, read_secrets_file


def write_config(root: Path, text: str) -> Path:
    path = root / "autohub.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_defaults_without_any_setting(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "project: acme\n"), environ={})
    assert config.project == "acme"
    assert DEFAULT_DATABASE_URL == "sqlite:///.autohub/autohub.db"
    assert config.database_url == f"sqlite:///{tmp_path / '.autohub' / 'autohub.db'}"
    assert config.spool_dir == tmp_path / ".autohub" / "spool"


def test_the_config_is_found_in_a_parent_directory(tmp_path: Path) -> None:
    write_config(tmp_path, "project: acme\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "autohub.yaml"
    assert load_config(cwd=nested, environ={}).root == tmp_path


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "project: acme\ndatabase: sqlite:///from-file.db\n")
    environ = {"AUTOHUB_DATABASE_URL": "postgresql://u:p@127.0.0.1/db", "AUTOHUB_PROJECT": "ops"}
    config = load_config(path, environ=environ)
    assert config.database_url == "postgresql+psycopg://u:p@127.0.0.1/db"
    assert config.project == "ops"


def test_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, "project: elsewhere\n")
    other = tmp_path / "other"
    other.mkdir()
    config = load_config(cwd=other, environ={"AUTOHUB_CONFIG": str(path)})
    assert config.project == "elsewhere"


def test_unknown_keys_and_bad_values_are_all_reported_with_lines(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
        project: "bad project name"
        databse: sqlite:///x.db
        events:
          evidence_max_bytes: lots
        modules: [ops.jobs, "not a module"]
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("autohub.yaml:1: project:") for p in problems)
    assert "autohub.yaml:2: databse: unknown key" in problems
    assert any(
        p.startswith("autohub.yaml:4: events.evidence_max_bytes: invalid size") for p in problems
    )
    assert any(
        p.startswith("autohub.yaml:5: modules:") and "not a Python module" in p for p in problems
    )
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("database: postgresql://app:s3cretpass@db.internal/app", "database"),
        (
            "automations:\n  x:\n    steps: [{id: a, http: {url: 'https://h',"
            " headers: {X-Api-Key: abc123def}}}]",
            "automations.x.steps[0].http.headers.X-Api-Key",
        ),
        ("breakers:\n  n8n: {failure_threshold: 3}\nnote: 'api_key=AKIAABCDEFGHIJKLMNOP'", "note"),
    ],
)
def test_a_literal_secret_in_the_config_is_rejected_naming_the_key(
    tmp_path: Path, line: str, key: str
) -> None:
    path = write_config(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    secret_problems = [p for p in caught.value.problems if "literal secret" in p.message]
    assert [p.key for p in secret_problems] == [key]
    assert "${NAME}" in secret_problems[0].message


def test_secret_references_in_the_database_url_are_resolved_and_quoted(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database: postgresql://app:${DB_PASSWORD}@127.0.0.1:5432/app\n")
    config = load_config(path, environ={"DB_PASSWORD": "p@ss:w/rd?#%"})
    assert (
        config.database_url
        == "postgresql+psycopg://app:p%40ss%3Aw%2Frd%3F%23%25@127.0.0.1:5432/app"
    )
    from sqlalchemy.engine import make_url

    assert make_url(config.database_url).password == "p@ss:w/rd?#%"


def test_a_whole_url_reference_is_not_quoted(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database: ${DATABASE_URL}\n")
    config = load_config(path, environ={"DATABASE_URL": "postgresql://a:b@h/db"})
    assert config.database_url == "postgresql+psycopg://a:b@h/db"


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database: postgresql://app:${DB_PASSWORD}@h/app\n")
    config = load_config(path, environ={})  # commands that never open the store still work
    with pytest.raises(ConfigError, match="secret DB_PASSWORD is not set"):
        _ = config.database_url


def test_secrets_file_must_be_private(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("DB_PASSWORD=hunter2hunter2\n")
    os.chmod(secrets, 0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        read_secrets_file(secrets)
    path = write_config(tmp_path, "secrets_file: secrets.env\n")
    with pytest.raises(ConfigError, match="mode 0644"):
        load_config(path, environ={})


def test_secrets_file_values_resolve_and_are_redacted(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# comment\nexport DB_PASSWORD='hunter2hunter2'\nHOOK=abc123xyz\n")
    os.chmod(secrets, 0o600)
    path = write_config(
        tmp_path, "secrets_file: secrets.env\ndatabase: postgresql://app:${DB_PASSWORD}@h/db\n"
    )
    config = load_config(path, environ={})
    assert "hunter2hunter2" in config.database_url
    redactor = config.redactor()
    assert redactor.text("pw hunter2hunter2 and abc123xyz") == "pw [REDACTED] and [REDACTED]"


def test_environment_wins_over_the_secrets_file(tmp_path: Path) -> None:
    secrets = Secrets({"TOKEN": "from-file"}, {"TOKEN": "from-env"})
    assert secrets.get("TOKEN") == "from-env"
    assert secrets.resolve("Bearer ${TOKEN}", "x") == "Bearer from-env"


def test_a_malformed_secrets_file_names_the_line(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("GOOD=1\nthis is not an assignment\n")
    os.chmod(secrets, 0o600)
    with pytest.raises(SecretsError, match=r"secrets.env:2: expected NAME=value"):
        read_secrets_file(secrets)


def test_secret_named_environment_variables_are_redacted(tmp_path: Path) -> None:
    path = write_config(tmp_path, "project: acme\n")
    environ = {"GITHUB_TOKEN": "ghx-1234567890", "PWD": "/tmp", "HOME": "/root"}
    redactor = load_config(path, environ=environ).redactor()
    assert redactor.text("token ghx-1234567890 in /tmp") == "token [REDACTED] in /tmp"
