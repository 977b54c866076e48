"""Helpers of the n8n tests (imported as ``n8n_helpers``; not a test module)."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import project_helpers
from autohub.hub import Hub
from autohub.n8n.events import FAILURE_EVIDENCE_KEYS

PROJECT = "media"
N8N_URL_ENV = "AUTOHUB_TEST_N8N_URL"
AUTH_TOKEN = "autohub-test-token"
WRONG_TOKEN = "not-the-token-4417"
EVIDENCE_KEYS = FAILURE_EVIDENCE_KEYS


def n8n_url() -> str:
    """The shared test n8n (never stopped by the tests)."""
    url = os.environ.get(N8N_URL_ENV, "").strip()
    if not url:
        pytest.fail(
            f"{N8N_URL_ENV} is not set: start the test services "
            '(`eval "$(python3 tests/services.py up)"`)',
            pytrace=False,
        )
    return url


def open_project(root: Path, database_url: str, config: str) -> Hub:
    """A Hub on project PROJECT in ``root``: autohub.yaml holds ``config``; the secrets file
    holds N8N_TOKEN (the right token) and N8N_WRONG_TOKEN."""
    secrets = {"N8N_TOKEN": AUTH_TOKEN, "N8N_WRONG_TOKEN": WRONG_TOKEN}
    return project_helpers.open_project(root, database_url, PROJECT, config, secrets=secrets)


@contextmanager
def closed_port() -> Iterator[int]:
    """A local port bound but not listening: connections are refused (n8n "stopped")."""
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    try:
        yield bound.getsockname()[1]
    finally:
        bound.close()


class TaskServer:
    """A local HTTP server standing in for a team's task API (a fallback tier's target)."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"null"))
                body = json.dumps({"queued": True}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TaskServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
