"""Helpers of the server tests: ``autohub serve`` on a free loopback port, and tokens."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(cli, *, scheduler: bool = False) -> Iterator[httpx.Client]:
    """``autohub serve`` on a free port; without ``scheduler``, it fires no cron triggers
    (the example's half-hourly disk-report would otherwise add runs to a test)."""
    port = free_port()
    server = cli.popen(
        "serve", "--port", str(port), "--scheduler" if scheduler else "--no-scheduler"
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the server did not answer /health in 30 s"
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


def token(cli, role: str) -> str:
    created = cli("token", "create", "--role", role, "--json", check=0).stdout
    return json.loads(created)["secret"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
