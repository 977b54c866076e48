"""``autohub init``: the example project, its store, its definitions and its first event."""

from __future__ import annotations

import json

from autohub.store.migrations import HEAD

EXAMPLE_FILES = (
    "autohub.yaml",
    "automations/backup.yaml",
    "automations/deploy.yaml",
    "data/README.txt",
    ".gitignore",
    "ops/__init__.py",
    "ops/automations.py",
    "ops/checks.py",
    "ops/deploy.py",
)
EXAMPLE_AUTOMATIONS = ["backup-data", "deploy-service", "disk-report", "hello"]


def test_init_creates_the_project_its_store_definitions_and_event(
    cli, tmp_path, database_url, read_db
):
    cli.env["AUTOHUB_DATABASE_URL"] = database_url
    _code, stdout, stderr = cli("init", "proj", check=0)
    root = tmp_path / "proj"

    assert f"project proj in {root}" in stdout
    for relative in EXAMPLE_FILES:
        assert (root / relative).is_file(), relative
        assert f"created {relative}" in stdout, relative
    assert "project: proj" in (root / "autohub.yaml").read_text()
    assert "__PROJECT__" not in (root / "autohub.yaml").read_text()
    assert f"at revision {HEAD}" in stdout
    assert "4 automations, 4 new versions" in stdout
    assert "next: autohub validate" in stdout
    assert "Traceback" not in stderr

    (revision,) = read_db(database_url, "SELECT version_num FROM alembic_version")
    assert revision["version_num"] == HEAD
    names = read_db(database_url, "SELECT name, project_id FROM definitions ORDER BY name")
    assert [(row["name"], row["project_id"]) for row in names] == [
        (name, "proj") for name in EXAMPLE_AUTOMATIONS
    ]
    (event,) = read_db(database_url, "SELECT * FROM automation_events")
    assert (event["event_type"], event["project_id"], event["status"]) == (
        "project_initialised",
        "proj",
        "success",
    )
    assert event["detected_from"] == "autohub init"
    evidence = (
        event["evidence"] if isinstance(event["evidence"], dict) else json.loads(event["evidence"])
    )
    assert evidence["automations"] == EXAMPLE_AUTOMATIONS
    assert sorted(evidence["files_created"]) == sorted(EXAMPLE_FILES)


def test_init_again_refuses_without_force(cli, example, tmp_path):
    config = example.path("autohub.yaml")
    config.write_text(config.read_text() + "# my edit\n")

    _code, stdout, stderr = cli("init", "proj", cwd=tmp_path, check=2)

    assert stderr.startswith("error: ")
    assert f"{config} already exists" in stderr
    assert "--force" in stderr
    assert len(stderr.strip().splitlines()) == 1, "one line, not wrapped"
    assert stdout == ""
    assert config.read_text().endswith("# my edit\n"), "nothing overwritten"
    assert not (tmp_path / "untouched.db").exists(), "no store created"


def test_init_force_restores_the_example_files(cli, example, tmp_path):
    config = example.path("autohub.yaml")
    config.write_text(config.read_text() + "# my edit\n")
    (example.root / "ops" / "deploy.py").unlink()

    stdout = cli("init", "proj", "--force", cwd=tmp_path, check=0).stdout

    assert "created autohub.yaml" in stdout
    assert "created ops/deploy.py" in stdout
    assert "# my edit" not in config.read_text()
    assert (example.root / "ops" / "deploy.py").is_file()


def test_init_rejects_an_invalid_project_id(cli, tmp_path):
    _code, _stdout, stderr = cli("init", "proj", "--project", "bad id!", check=2)
    assert "--project: 'bad id!' is not a valid project id" in stderr
    assert not (tmp_path / "proj").exists()
