"""schemathesis against the running server's published OpenAPI schema, over real HTTP on
SQLite and PostgreSQL: no 500, and every answer fits the schema (status code, content
type, body, headers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from serve_helpers import serving, token

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


def test_the_api_keeps_to_its_openapi_schema_under_schemathesis(cli, project):
    admin = token(cli, "admin")
    cli("run", "hello", "-p", "who=schema", check=0)
    cli("events", "record", "--type", "probe", "--status", "failed", check=0)
    st = Path(sys.executable).with_name("st")
    # Each fuzzed POST /v1/gate/check runs a real gate: keep it to the checks that only
    # read the tree (the command checks have their own tests in tests/gate).
    config = project.path("autohub.yaml")
    config.write_text(
        config.read_text()
        + "\ngate:\n  tests: {enabled: false}\n  performance: {enabled: false}\n"
        + "  integration: {enabled: false}\n"
    )

    with serving(cli) as client:
        schema = client.get("/openapi.json")
        # The live stream never ends, so a request-response fuzzer cannot read it: its
        # own tests (test_cli_stream.py) cover it.
        fuzzed = subprocess.run(
            [st, "run", f"{client.base_url}/openapi.json", "-H", f"Authorization: Bearer {admin}",
             "--checks", CHECKS, "--max-examples", "15", "--seed", "1",
             "--request-timeout", "10", "--exclude-path", "/v1/events/stream", "--no-color"],
            capture_output=True, text=True, timeout=600, check=False, cwd=project.root,
        )  # fmt: skip

    assert schema.status_code == 200
    paths = json.loads(schema.text)["paths"]
    assert {
        "/v1/runs",
        "/v1/events/stream",
        "/v1/hooks/{automation}",
        "/metrics",
        "/v1/gate/check",
        "/v1/todos/observe",
    } <= set(paths)
    output = fuzzed.stdout + fuzzed.stderr
    assert fuzzed.returncode == 0, output[-6000:]
    assert " passed" in output
