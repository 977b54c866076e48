#!/usr/bin/env python3
"""HTTP server benchmark: ``/health`` latency under a fixed request rate, and runs
accepted through ``POST /v1/runs``.

It creates a scratch project (SQLite, one no-op python automation), runs
``autohub db upgrade``, creates an operator token and starts ``autohub serve`` on a free
loopback port. The load comes from a second process (this script in ``--load`` mode:
asyncio streams speaking HTTP/1.1 on keep-alive connections):

* ``/health``: requests sent on a fixed schedule (open loop: a late answer does not
  delay the next request) at ``--rate`` per second for ``--seconds``; latency is measured
  from each request's scheduled time, so queueing counts. The peer is a bare Starlette
  application on uvicorn answering the same JSON, loaded the same way in the same run:
  the floor of this stack on this machine.
* ``POST /v1/runs``: ``--clients`` concurrent clients post runs for ``--seconds``; the
  figure is accepted runs (201) per second, twice: against an API-only server
  (``autohub serve --no-executor``, the front of a deployment whose runs execute
  elsewhere), and against the server above, whose executor runs them meanwhile in the
  same process. The target is judged on each.
* ``GET /v1/events`` with filters at ``--events`` stored events (1M by default, written
  straight into the store by SQL before the server starts: 20 event types, 8 statuses,
  3 projects, 30 days): one client, one query at a time, ``--queries`` queries that
  cycle through a type, a type and a status, a status since a day ago, a run, and the
  second page of a type (its cursor); latency per query.

Targets (issue 4, 2-core machine): ``/health`` p99 under 5 ms at 1,000 requests/s; at
least 500 runs accepted per second; a filtered event query p99 under 20 ms at 1M
events. It prints figures and PASS/FAIL and exits 0: a report, not a test.

    python benchmarks/api.py
    python benchmarks/api.py --rate 500 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_P99_MS = 5.0
TARGET_RATE = 1000
TARGET_ACCEPTED = 500
TARGET_QUERY_P99_MS = 20.0
EVENT_TYPES = [f"{area}.{what}" for area in ("deploy", "backup", "monitor", "n8n", "gate")
               for what in ("started", "finished", "failed", "checked")]  # fmt: skip
STATUSES = ["success"] * 5 + ["failed", "warning", "running"]

PEER_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def health(request):
    return JSONResponse({"status": "ok", "uptime_seconds": 0.0})

app = Starlette(routes=[Route("/health", health)])
"""
PROJECT = """project: bench
server:
  rate_limit_per_minute: 100000000  # the load comes from one token
automations:
  noop:
    steps:
      - {id: only, python: "noop:step"}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /health")


# -- the load process ---------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the load generator must not
    be the bottleneck, and a full client library costs more per request than the
    server's own work."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> int:
        """Send a request; its status (the body is read and dropped)."""
        status, _ = await self.exchange(method, path, body, headers)
        return status

    async def get_json(self, path: str, headers: str) -> Any:
        _, body = await self.exchange("GET", path, b"", headers)
        return json.loads(body)

    async def exchange(
        self, method: str, path: str, body: bytes, headers: str
    ) -> tuple[int, bytes]:
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def paced_health(port: int, rate: int, seconds: float) -> dict[str, Any]:
    connections = [await Connection.open(port) for _ in range(32)]
    for connection in connections:  # warm up
        await connection.request("GET", "/health")
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        connection = await free.get()
        try:
            if await connection.request("GET", "/health") != 200:
                errors += 1
        finally:
            free.put_nowait(connection)
        latencies.append(time.perf_counter() - scheduled)

    count = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for connection in connections:
        connection.close()
    return {"latencies": latencies, "errors": errors, "sent": count, "elapsed": elapsed}


async def query_events(port: int, secret: str, queries: int) -> dict[str, Any]:
    """One client, one query at a time: the latency of each filtered query."""
    import urllib.parse

    headers = f"Authorization: Bearer {secret}\r\n"
    connection = await Connection.open(port)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    paths = []
    for index in range(queries):
        kind = EVENT_TYPES[index % len(EVENT_TYPES)]
        pick = [
            {"type": kind},
            {"type": kind, "status": "failed"},
            {"status": "warning", "since": since},
            {"run": f"{index % 5000:032x}"},
        ][index % 4]
        paths.append("/v1/events?" + urllib.parse.urlencode({**pick, "limit": 50}))
    latencies: list[float] = []
    errors = 0
    for index, query in enumerate(paths):
        path = query
        if index % 5 == 4:  # the second page of a type: its cursor comes from the first
            kind = EVENT_TYPES[index % 20]
            first = await connection.get_json(f"/v1/events?type={kind}", headers)
            path = f"/v1/events?type={kind}&cursor={first['next_cursor']}"
        started = time.perf_counter()
        if await connection.request("GET", path, b"", headers) != 200:
            errors += 1
        latencies.append(time.perf_counter() - started)
    connection.close()
    return {"latencies": latencies, "errors": errors}


async def post_runs(port: int, secret: str, clients: int, seconds: float) -> dict[str, Any]:
    headers = f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
    body = json.dumps({"automation": "noop"}).encode()
    accepted = 0
    other: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal accepted
        connection = await Connection.open(port)
        try:
            while time.perf_counter() < deadline:
                status = await connection.request("POST", "/v1/runs", body, headers)
                if status == 201:
                    accepted += 1
                else:
                    other[status] = other.get(status, 0) + 1
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return {"accepted": accepted, "elapsed": elapsed, "other": other}


def load_main(args: argparse.Namespace) -> int:
    if args.load == "health":
        result = asyncio.run(paced_health(args.port, args.rate, args.seconds))
    elif args.load == "events":
        result = asyncio.run(query_events(args.port, args.secret, args.queries))
    else:
        result = asyncio.run(post_runs(args.port, args.secret, args.clients, args.seconds))
    print(json.dumps(result))
    return 0


# -- the parent -----------------------------------------------------------------------------


def run_load(kind: str, port: int, args: argparse.Namespace, secret: str = "") -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--load",
        kind,
        "--port",
        str(port),
        "--rate",
        str(args.rate),
        "--seconds",
        str(args.seconds),
        "--clients",
        str(args.clients),
        "--secret",
        secret,
        "--queries",
        str(args.queries),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def health_row(name: str, result: dict[str, Any]) -> list[str]:
    from _common import median, percentile

    latencies = result["latencies"]
    achieved = result["sent"] / result["elapsed"]
    return [
        name,
        f"{achieved:,.0f}/s",
        f"{median(latencies) * 1000:.2f}",
        f"{percentile(latencies, 99) * 1000:.2f}",
        f"{max(latencies) * 1000:.2f}",
        str(result["errors"]),
    ]


def fill_events(database: Path, rows: int) -> None:
    """``rows`` events written straight into the SQLite store by one SQL statement."""
    import sqlite3

    types = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(EVENT_TYPES))
    statuses = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(STATUSES))
    seconds_apart = 30 * 86400 / rows
    sql = f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO automation_events (uid, event_type, project_id, status, evidence,
            detected_from, metadata, created_at, run_id)
        SELECT lower(hex(randomblob(16))),
               CASE abs(random()) % {len(EVENT_TYPES)} {types} END,
               CASE i % 10 WHEN 0 THEN 'other' WHEN 1 THEN 'third' ELSE 'bench' END,
               CASE abs(random()) % {len(STATUSES)} {statuses} END,
               '{{"n":' || i || ',"host":"web-' || (i % 40) || '","took_ms":' || (i % 997) || '}}',
               'bench', '{{}}',
               strftime('%Y-%m-%d %H:%M:%S', 'now', '-30 days',
                        '+' || CAST(i * {seconds_apart} AS INTEGER) || ' seconds') || '.000000',
               printf('%032x', i % 5000)
        FROM n"""
    with sqlite3.connect(database) as connection:
        connection.execute(sql)


def measure(
    args: argparse.Namespace,
) -> tuple[list[list[str]], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Starts the peer and ``autohub serve`` on a scratch project and loads both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOHUB_")}
    autohub = [sys.executable, "-m", "autohub"]
    from _common import scratch_dir

    with scratch_dir("autohub-api-bench-") as root:
        (root / "autohub.yaml").write_text(PROJECT)
        (root / "noop.py").write_text("def step(ctx):\n    return None\n")
        (root / "peer_app.py").write_text(PEER_APP)
        subprocess.run([*autohub, "db", "upgrade"], cwd=root, env=env, check=True,
                       capture_output=True)  # fmt: skip
        print(f"  .. writing {args.events:,} events into the store")
        fill_events(root / ".autohub" / "autohub.db", args.events)
        created = subprocess.run(
            [*autohub, "token", "create", "--role", "operator", "--json"],
            cwd=root, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        secret = json.loads(created.stdout)["secret"]
        rows = []
        peer_port, port = free_port(), free_port()
        peer = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "peer_app:app", "--port", str(peer_port),
             "--log-level", "warning", "--no-access-log"],
            cwd=root, env=env,
        )  # fmt: skip
        server = subprocess.Popen([*autohub, "serve", "--port", str(port)], cwd=root, env=env)
        try:
            wait_healthy(peer_port, peer)
            wait_healthy(port, server)
            print(f"  .. /health at {args.rate}/s for {args.seconds:g} s: bare Starlette")
            rows.append(health_row("Starlette (peer)", run_load("health", peer_port, args)))
            print("  .. the same against autohub serve")
            autohub_health = run_load("health", port, args)
            rows.append(health_row("autohub serve", autohub_health))
            print(f"  .. {args.queries} filtered event queries at {args.events:,} events")
            events = run_load("events", port, args, secret)
            print(f"  .. POST /v1/runs with {args.clients} clients for {args.seconds:g} s")
            runs = run_load("runs", port, args, secret)
        finally:
            for process in (server, peer):
                process.terminate()
                process.wait(30)
        api_port = free_port()
        front = subprocess.Popen(
            [*autohub, "serve", "--port", str(api_port), "--no-executor", "--no-scheduler"],
            cwd=root, env=env,
        )  # fmt: skip
        try:
            wait_healthy(api_port, front)
            print("  .. the same against an API-only server (serve --no-executor)")
            runs["api_only"] = run_load("runs", api_port, args, secret)
        finally:
            front.terminate()
            front.wait(30)
    return rows, autohub_health, runs, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="/health requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=16, help="concurrent POST clients")
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored")
    parser.add_argument("--queries", type=int, default=500, help="event queries measured")
    parser.add_argument("--load", choices=("health", "runs", "events"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        return load_main(args)

    from _common import command_line, load_average, machine_summary, render_table

    print("autohub HTTP server benchmark (benchmarks/api.py)")
    print(f"command: {command_line()}")
    print(f"machine: {machine_summary()}")
    print(f"load:    {load_average()} at the start; the machine is shared")
    rows, autohub_health, runs, events = measure(args)
    print()
    print(f"/health at a fixed rate of {args.rate}/s, latency from each scheduled send, ms")
    print(render_table(["server", "achieved", "p50", "p99", "max", "errors"], rows))
    print()
    for name, result in (("API-only server", runs["api_only"]), ("executing server", runs)):
        print(
            f"POST /v1/runs, {name}: {result['accepted']:,} accepted in "
            f"{result['elapsed']:.1f} s = {result['accepted'] / result['elapsed']:,.0f}/s; "
            f"other answers {result['other'] or 'none'}"
        )
    from _common import median, percentile

    query_ms = [latency * 1000 for latency in events["latencies"]]
    query_p99 = percentile(query_ms, 99)
    print()
    print(f"GET /v1/events with filters at {args.events:,} events: {len(query_ms)} queries, "
          f"p50 {median(query_ms):.2f} ms, p99 {query_p99:.2f} ms, max {max(query_ms):.2f} ms, "
          f"errors {events['errors']}")  # fmt: skip
    p99 = percentile(autohub_health["latencies"], 99) * 1000
    print()
    print("Targets")
    health_ok = p99 < TARGET_P99_MS and args.rate >= TARGET_RATE
    print(f"  /health p99 < {TARGET_P99_MS} ms at {TARGET_RATE:,}/s: {p99:.2f} ms "
          f"at {args.rate:,}/s: {'PASS' if health_ok else 'FAIL'}")  # fmt: skip
    for name, result in (("API-only server", runs["api_only"]), ("executing server", runs)):
        rate = result["accepted"] / result["elapsed"]
        print(f"  runs accepted >= {TARGET_ACCEPTED}/s ({name}): {rate:,.0f}/s: "
              f"{'PASS' if rate >= TARGET_ACCEPTED else 'FAIL'}")  # fmt: skip
    query_ok = query_p99 < TARGET_QUERY_P99_MS and args.events >= 1_000_000
    print(f"  event query p99 < {TARGET_QUERY_P99_MS:g} ms at 1M events: {query_p99:.2f} ms "
          f"at {args.events:,}: {'PASS' if query_ok else 'FAIL'}")  # fmt: skip
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
