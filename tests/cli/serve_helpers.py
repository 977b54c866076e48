"""Helpers of the server tests: ``autohub serve`` on a free loopback port, and tokens."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    server: subprocess.Popen[str]
    client: httpx.Client


@contextlib.contextmanager
def started(cli, *, scheduler: bool = False) -> Iterator[Served]:
    """``autohub serve`` on a free port, once it answers ``/health``; without
    ``scheduler``, it fires no cron triggers (the example's half-hourly disk-report would
    otherwise add runs to a test). A test may stop the server itself."""
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
        yield Served(server, client)
    finally:
        client.close()
        if server.poll() is None:
            server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


@contextlib.contextmanager
def serving(cli, *, scheduler: bool = False) -> Iterator[httpx.Client]:
    """``started``, for a test that needs only the client."""
    with started(cli, scheduler=scheduler) as served:
        yield served.client


def add_automations(project, yaml: str, extra: str = "") -> None:
    """Declare more automations (``yaml``: entries indented under ``automations:``) in
    the project's autohub.yaml, and append ``extra`` config to it."""
    config = project.path("autohub.yaml")
    text = config.read_text().replace("automations:\n", "automations:\n" + yaml, 1)
    config.write_text(text + extra)


def add_nap(project, seconds: float, extra: str = "") -> None:
    """An automation ``nap`` whose one step sleeps ``seconds``."""
    nap = f'  nap:\n    steps:\n      - {{id: sleep, shell: [sleep, "{seconds:g}"]}}\n'
    add_automations(project, nap, extra)


def start_running(client: httpx.Client, headers: dict[str, str], automation: str) -> str:
    """Trigger a run and wait until it is running; its id."""
    answer = client.post("/v1/runs", json={"automation": automation}, headers=headers)
    run_id: str = answer.json()["run"]["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/runs/{run_id}", headers=headers).json()["state"] != "running":
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    return run_id


def token(cli, role: str) -> str:
    created = cli("token", "create", "--role", role, "--json", check=0).stdout
    return json.loads(created)["secret"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
