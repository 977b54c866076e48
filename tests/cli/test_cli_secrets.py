"""Secrets: a safely stored secrets file, ``${NAME}`` references, and redaction on the way in."""

from __future__ import annotations

import json

from sqlalchemy.engine import make_url

from autohub.store.migrations import HEAD

SECRET = "zq9-Lk2-aa7-Pw4"


def _use_secrets_file(project, text: str, mode: int) -> str:
    path = project.path("secrets.env")
    path.write_text(text)
    path.chmod(mode)
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + "secrets_file: secrets.env\n")
    return str(path)


def test_a_secrets_file_readable_by_others_is_refused(cli, example):
    path = _use_secrets_file(example, f"DEPLOY_TOKEN={SECRET}\n", 0o644)

    _code, stdout, stderr = cli("validate", check=1)

    assert f"secrets file {path} has mode 0644" in stderr
    assert f"chmod 600 {path}" in stderr
    assert SECRET not in stderr + stdout


def test_a_missing_secret_in_database_fails_naming_it(cli, example):
    config = example.path("autohub.yaml")
    config.write_text(
        config.read_text()
        + "database: postgresql://autohub:${AUTOHUB_DB_PASSWORD}@127.0.0.1:5432/autohub\n"
    )
    del cli.env["AUTOHUB_DATABASE_URL"]  # the file's `database:` is used

    _code, _stdout, stderr = cli("events", check=1)

    assert f"{config}: database: secret AUTOHUB_DB_PASSWORD is not set" in stderr
    assert "set it in the environment or the secrets file" in stderr


def test_a_secret_recorded_in_evidence_comes_back_redacted(cli, project, read_db):
    _use_secrets_file(project, f"# deploy credentials\nDEPLOY_TOKEN={SECRET}\n", 0o600)

    cli(
        "events",
        "record",
        "--type",
        "deploy_finished",
        "--status",
        "success",
        "--evidence",
        json.dumps({"log": f"login with {SECRET} ok", "nested": [SECRET]}),
        "--metadata",
        json.dumps({"cmd": f"deploy --token-file x {SECRET}"}),
        check=0,
    )
    stdout = cli("events", "--type", "deploy_finished", "--json", check=0).stdout

    (event,) = json.loads(stdout)["events"]
    assert event["evidence"] == {"log": "login with [REDACTED] ok", "nested": ["[REDACTED]"]}
    assert event["metadata"] == {"cmd": "deploy --token-file x [REDACTED]"}
    assert SECRET not in stdout
    rows = read_db(project.database_url, "SELECT * FROM automation_events")
    assert SECRET not in repr(rows), "never written to the store"


def test_database_url_password_from_the_secrets_file(cli, tmp_path, database_url):
    """``database:`` with ``${NAME}``: a password full of ``@:/?#%`` still connects."""
    from autohub.scaffold import scaffold

    root = tmp_path / "proj"
    root.mkdir()
    scaffold(root, "proj")
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        secret_name, secret = "DB_PASSWORD", url.password
        database = (
            f"postgresql://{url.username}:${{DB_PASSWORD}}@{url.host}:{url.port}/{url.database}"
        )
    else:  # a whole-URL reference is used as is
        secret_name, secret, database = "DB_URL", database_url, "${DB_URL}"
    secrets = root / "secrets.env"
    secrets.write_text(f"{secret_name}={secret}\n")
    secrets.chmod(0o600)
    (root / "autohub.yaml").write_text(
        (root / "autohub.yaml").read_text() + f"secrets_file: secrets.env\ndatabase: {database}\n"
    )
    cli.cwd = root

    stdout = cli("db", "upgrade", check=0).stdout
    assert stdout.strip().endswith(f": upgraded empty -> {HEAD}")
    if secret_name == "DB_PASSWORD":
        assert ":***@" in stdout
        assert secret not in stdout, "the password is never shown"
    stdout = cli("events", "record", "--type", "t", "--status", "success", check=0).stdout
    assert stdout == "event 1 recorded\n"


def test_a_secret_referenced_only_in_an_automations_file_is_redacted_from_a_run(
    cli, project, read_db
):
    # Not a secret by its name, and not referenced in autohub.yaml: only automations/*.yaml
    # says it is one. A step that echoes it must not write it to the store.
    cli.env["PARTNER_LOGIN"] = SECRET
    project.path("automations/partner.yaml").write_text(
        "name: partner-sync\n"
        "steps:\n"
        "  - id: login\n"
        "    shell:\n"
        '      argv: [sh, -c, "echo logging in with $LOGIN; echo $LOGIN >&2"]\n'
        '      env: {LOGIN: "${PARTNER_LOGIN}"}\n'
    )

    stdout = cli("run", "partner-sync", check=0).stdout

    assert SECRET not in stdout
    (step,) = read_db(project.database_url, "SELECT output FROM run_steps")
    output = step["output"] if isinstance(step["output"], dict) else json.loads(step["output"])
    assert output["stdout"] == "logging in with [REDACTED]\n"
    assert output["stderr"] == "[REDACTED]\n"
    stored = [
        read_db(project.database_url, "SELECT * FROM run_steps"),
        read_db(project.database_url, "SELECT * FROM step_attempts"),
        read_db(project.database_url, "SELECT * FROM automation_events"),
    ]
    assert "[REDACTED]" in repr(stored[1])
    assert SECRET not in repr(stored), "never written to the store"
