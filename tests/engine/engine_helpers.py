"""Helpers of the engine tests: requests, process checks, a real HTTP server, and the
functions python steps call (``engine_helpers:describe``...; this directory is the
project root of those steps).

Kept to the standard library and the engine's light modules: an isolated python step's
child process imports this module too.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from autohub.engine.actions.base import ActionRequest, ActionResult, Limits, run_action
from autohub.engine.context import StepContext

HERE = Path(__file__).parent
LOGGER_NAME = "autohub.test.step"


# --- requests ----------------------------------------------------------------------


def make_request(
    kind: str,
    spec: Mapping[str, Any],
    *,
    timeout_seconds: float | None = None,
    limits: Limits | None = None,
    cwd: Path = HERE,
    environ: Mapping[str, str] | None = None,
) -> ActionRequest:
    """A request as the engine builds it, with a fixed step context."""
    context = StepContext(
        run_id="run-1",
        step_id="deploy",
        automation="release",
        attempt=2,
        params={"env": "staging"},
        outputs={"build": {"version": "1.2.3"}},
        idempotency_key="key-1",
        logger_name=LOGGER_NAME,
        project_id="ops",
    )
    return ActionRequest(
        kind=kind,
        spec=spec,
        context=context,
        timeout_seconds=timeout_seconds,
        limits=limits or Limits(),
        cwd=cwd,
        environ=dict(os.environ) if environ is None else environ,
    )


def python_spec(function: str, isolate: str = "thread", **kwargs: Any) -> dict[str, Any]:
    return {"function": function, "isolate": isolate, "kwargs": kwargs}


def shell_spec(command: str) -> dict[str, Any]:
    """A ``shell: true`` command (the argv form is written out where it is tested)."""
    return {"argv": None, "command": command, "shell": True, "env": {}, "cwd": None}


def http_spec(url: str, **fields: Any) -> dict[str, Any]:
    return {"method": "GET", "url": url, **fields}


def run(request: ActionRequest) -> ActionResult:
    return asyncio.run(run_action(request))


# --- processes ---------------------------------------------------------------------


def process_is_gone(pid: int, within_seconds: float = 3.0) -> bool:
    """Whether process ``pid`` has ended (waiting up to ``within_seconds`` for it).

    A zombie counts as ended: it has exited and only waits to be reaped, and the PID 1
    of some containers never reaps the orphans it inherits.
    """
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _is_zombie(pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


async def wait_for_pids(path: Path, count: int, within_seconds: float = 10.0) -> list[int]:
    """The first ``count`` pids written one a line to ``path``, once they are all there."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split("\n")[:-1]  # complete lines only
            if len(lines) >= count:
                return [int(line) for line in lines[:count]]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} pids in {within_seconds} s")


def free_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- functions called by python steps ----------------------------------------------


class DeployError(RuntimeError):
    """A failed deployment."""


class RolloutFailed(DeployError):
    """A rollout that did not converge."""


NOT_A_FUNCTION = 42


def describe(ctx: StepContext, greeting: str) -> dict[str, Any]:
    return {
        "greeting": greeting,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "automation": ctx.automation,
        "attempt": ctx.attempt,
        "params": dict(ctx.params),
        "outputs": dict(ctx.outputs),
        "idempotency_key": ctx.idempotency_key,
        "project_id": ctx.project_id,
        "pid": os.getpid(),
    }


async def async_describe(ctx: StepContext, greeting: str) -> dict[str, Any]:
    await asyncio.sleep(0)
    return describe(ctx, greeting)


async def sleep_then_flag(ctx: StepContext, seconds: float, flag_path: str) -> str:
    try:
        await asyncio.sleep(seconds)
    finally:
        Path(flag_path).write_text("finally ran")
    return "slept"


def sleep_sync(ctx: StepContext, seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


def write_pid_and_sleep(ctx: StepContext, pid_path: str, seconds: float) -> None:
    Path(pid_path).write_text(f"{os.getpid()}\n")
    time.sleep(seconds)


def fail_rollout(ctx: StepContext, service: str) -> None:
    raise RolloutFailed(f"{service} did not converge\n(second line)")


def return_set(ctx: StepContext) -> dict[str, Any]:
    return {"tags": {"a", "b"}}


def return_rich_values(ctx: StepContext) -> dict[str, Any]:
    return {
        "when": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "path": Path("/srv/app"),
        "id": uuid.UUID(int=1),
        "pair": (1, 2),
    }


def return_text(ctx: StepContext, size: int) -> str:
    return "x" * size


def hog_memory(ctx: StepContext, size: int) -> int:
    return len(bytearray(size))


def busy_loop(ctx: StepContext) -> None:
    while True:
        pass


def log_and_return(ctx: StepContext, message: str) -> str:
    ctx.logger.warning("step says: %s", message)
    return "logged"


def print_and_return(ctx: StepContext, text: str) -> str:
    print(text)
    print(text, file=sys.stderr)
    return text


def exit_without_result(ctx: StepContext) -> None:
    os._exit(7)


# --- a real HTTP server ------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on the slow endpoint: nothing to report


class _Handler(BaseHTTPRequestHandler):
    """``/json``, ``/status/<n>``, ``/slow?seconds=s``, ``/flaky/<key>`` (504, 504, then
    200), ``/echo`` (the request as JSON), ``/big?bytes=n``, ``/redirect``."""

    server: _Server

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/json":
            self._send(200, json.dumps({"hello": "world", "n": 1}), "application/json")
        elif url.path.startswith("/status/"):
            self._send(int(url.path.rsplit("/", 1)[1]), "as asked\n", "text/plain")
        elif url.path == "/slow":
            time.sleep(float(query.get("seconds", "2")))
            self._send(200, "finally\n", "text/plain")
        elif url.path.startswith("/flaky/"):
            with self.server.lock:
                calls = self.server.calls[url.path] = self.server.calls.get(url.path, 0) + 1
            if calls <= 2:
                self._send(504, "gateway timeout\n", "text/plain")
            else:
                self._send(200, json.dumps({"calls": calls}), "application/json")
        elif url.path == "/echo":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            echo = {
                "method": self.command,
                "query": query,
                "x_team": self.headers.get("X-Team"),
                "content_type": self.headers.get("Content-Type"),
                "body": json.loads(body) if body else None,
            }
            self._send(200, json.dumps(echo), "application/json; charset=utf-8")
        elif url.path == "/big":
            self._send(200, "y" * int(query["bytes"]), "text/plain; charset=utf-8")
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, "no such endpoint\n", "text/plain")

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve_http() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, in a thread; yields its base URL."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
