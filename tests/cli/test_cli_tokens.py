"""``autohub token``: create (secret shown once), list without secrets, revoke."""

from __future__ import annotations

import json


def test_create_list_and_revoke(cli, project):
    created = json.loads(
        cli("token", "create", "--role", "operator", "--expires", "30d", "--json", check=0).stdout
    )
    plain = cli("token", "create", "--role", "viewer", "-p", "web", "-p", "api", check=0)

    listed = json.loads(cli("token", "list", "--json", check=0).stdout)
    revoked = cli("token", "revoke", created["id"], check=0)
    after = json.loads(cli("token", "list", "--json", check=0).stdout)
    everything = json.loads(cli("token", "list", "--all", "--json", check=0).stdout)
    table = cli("token", "list", "--all", check=0).stdout

    assert created["secret"].startswith("ahk_")
    assert (created["role"], created["projects"]) == ("operator", ["proj"])
    assert created["expires_at"] is not None
    secret = plain.stdout.splitlines()[1]
    assert secret.startswith("ahk_")
    assert "shown this once" in plain.stderr
    assert {token["id"] for token in listed} == {created["id"], plain.stdout.split()[1]}
    assert all("secret" not in token for token in listed)
    assert revoked.stdout.startswith(f"token {created['id']} revoked at ")
    assert [token["id"] for token in after] == [plain.stdout.split()[1]]
    assert {token["state"] for token in everything} == {"active", "revoked"}
    assert created["secret"] not in table
    assert secret not in table


def test_bad_input_is_named_with_its_exit_code(cli, project):
    _code, _stdout, stderr = cli("token", "create", "--role", "root", check=2)
    assert stderr.strip() == "error: role: 'root' is not one of viewer, operator, admin"

    result = cli("token", "create", "--role", "viewer", "--expires", "soon", check=2)
    assert "error: --expires: invalid duration 'soon'" in result.stderr

    _code, _stdout, stderr = cli("token", "revoke", "nope", check=1)
    assert stderr.strip() == "error: no token with id 'nope'"
