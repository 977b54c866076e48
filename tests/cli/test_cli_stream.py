"""The live event stream, ``/v1/events/stream``, over a real WebSocket and real SSE
against ``autohub serve`` on SQLite and PostgreSQL: filters, token rules, catching up,
and a slow client dropped while the others and the server go on."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from serve_helpers import serving, token
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from autohub.store.database import Database
from autohub.store.events import EventStore


def ws_url(client: httpx.Client, query: str) -> str:
    return str(client.base_url).replace("http://", "ws://") + "/v1/events/stream?" + query


def record(url: str, events: list[dict[str, Any]]) -> list[int]:
    database = Database.create(url)
    try:
        store = EventStore(database)
        return [store.add(event).id or 0 for event in events]
    finally:
        database.dispose()


def receive(socket: Any, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < count:
        messages.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return messages


def test_a_websocket_streams_new_events_that_match_its_filter(cli, project):
    viewer = token(cli, "viewer")
    before = record(project.database_url, [{"event_type": "deploy.done", "project_id": "proj",
                                             "status": "success"}])  # fmt: skip

    with serving(cli) as client:
        headers = {"Authorization": f"Bearer {viewer}"}
        with (
            connect(
                ws_url(client, "type=deploy.done&status=failed"), additional_headers=headers
            ) as live,
            connect(
                ws_url(client, f"type=deploy.done&after={before[0] - 1}&access_token={viewer}")
            ) as replay,
        ):
            time.sleep(0.5)  # both subscribed
            record(
                project.database_url,
                [
                    {"event_type": "deploy.done", "project_id": "proj", "status": "failed",
                     "evidence": {"n": 1}},
                    {"event_type": "other.kind", "project_id": "proj", "status": "failed"},
                    {"event_type": "deploy.done", "project_id": "elsewhere", "status": "failed"},
                    {"event_type": "deploy.done", "project_id": "proj", "status": "success"},
                    {"event_type": "deploy.done", "project_id": "proj", "status": "failed",
                     "evidence": {"n": 2}},
                ],
            )  # fmt: skip
            live_messages = receive(live, 2)
            replayed = receive(replay, 4)
            with pytest.raises(TimeoutError):
                live.recv(timeout=1)  # nothing else matched

    assert [m["type"] for m in live_messages] == ["event", "event"]
    assert [m["event"]["evidence"] for m in live_messages] == [{"n": 1}, {"n": 2}]
    assert [(m["event"]["status"]) for m in replayed] == ["success", "failed", "success", "failed"]
    assert replayed[0]["event"]["id"] == before[0], "the backlog comes first"


def test_server_sent_events_stream_and_resume_from_the_last_event_id(cli, project):
    viewer = {"Authorization": f"Bearer {token(cli, 'viewer')}"}

    def frames(response: httpx.Response, count: int) -> list[tuple[str, str, dict]]:
        found: list[tuple[str, str, dict]] = []
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if not line:
                if "data" in fields:
                    found.append(
                        (fields.get("id", ""), fields["event"], json.loads(fields["data"]))
                    )
                fields = {}
                if len(found) == count:
                    return found
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        return found

    with serving(cli) as client:
        with client.stream("GET", "/v1/events/stream?type=sse.test", headers=viewer) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            ids = record(project.database_url, [
                {"event_type": "sse.test", "project_id": "proj", "status": "success",
                 "evidence": {"n": n}} for n in range(3)
            ])  # fmt: skip
            live = frames(response, 3)
        resume = {**viewer, "Last-Event-ID": str(ids[0])}
        with client.stream("GET", "/v1/events/stream?type=sse.test", headers=resume) as response:
            resumed = frames(response, 2)
        anonymous = client.get("/v1/events/stream")
        bad_status = client.get("/v1/events/stream?status=exploded", headers=viewer)

    assert [(i, kind, data["evidence"]) for i, kind, data in live] == [
        (str(ids[n]), "event", {"n": n}) for n in range(3)
    ]
    assert [data["evidence"] for _, _, data in resumed] == [{"n": 1}, {"n": 2}]
    assert anonymous.status_code == 401
    assert bad_status.status_code == 422
    assert bad_status.json()["error"]["field"] == "query.status.0"


def test_a_refused_websocket_is_told_why(cli, project):
    viewer = token(cli, "viewer")

    with serving(cli) as client:
        refused = {}
        for name, query in [
            ("none", ""),
            ("forged", "access_token=ahk_forged"),
            ("other project", f"project=elsewhere&access_token={viewer}"),
            ("bad status", f"status=exploded&access_token={viewer}"),
        ]:
            with connect(ws_url(client, query)) as socket:
                message = json.loads(socket.recv(timeout=10))
                with pytest.raises(ConnectionClosed) as closed:
                    socket.recv(timeout=10)
                refused[name] = (message["error"]["code"], closed.value.rcvd.code)

    assert refused == {
        "none": ("unauthorized", 4401),
        "forged": ("unauthorized", 4401),
        "other project": ("not_found", 4404),
        "bad status": ("invalid_request", 4422),
    }


def small_buffer_socket(client: httpx.Client) -> socket.socket:
    """A connected socket with a 4 KiB receive buffer: a client that stops reading stalls
    the server's sends after a few KiB instead of the megabytes Linux would buffer."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((client.base_url.host, client.base_url.port))
    return raw


def test_a_slow_client_is_dropped_and_the_others_and_the_server_go_on(cli, project):
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + "\nserver:\n  stream_queue_events: 200\n")
    viewer = token(cli, "viewer")
    total, blob = 1500, "x" * 5000  # 7.5 MB: more than the sockets buffer (4 MB at most)

    with serving(cli) as client:
        query = f"type=bulk.load&access_token={viewer}"
        fast_seen: list[int] = []

        def read_fast(socket: Any) -> None:
            while len(fast_seen) < total:
                message = json.loads(socket.recv(timeout=60))
                fast_seen.append(
                    message["event"]["evidence"]["n"] if "event" in message else message
                )

        slow = connect(  # no compression: the blobs must take their size on the wire
            ws_url(client, query), sock=small_buffer_socket(client), max_queue=2, compression=None
        )
        with slow, connect(ws_url(client, query)) as fast:
            reader = threading.Thread(target=read_fast, args=(fast,))
            reader.start()
            time.sleep(0.5)
            for start in range(0, total, 50):
                record(project.database_url, [
                    {"event_type": "bulk.load", "project_id": "proj", "status": "success",
                     "evidence": {"n": n, "a": blob}} for n in range(start, start + 50)
                ])  # fmt: skip
                time.sleep(0.1)  # ~500 events/s: bursts well within a client's queue
            health = client.get("/health")  # while the slow client lags
            reader.join(90)
            slow_messages: list[dict[str, Any]] = []
            closed = read_until_closed(slow, slow_messages)

    assert fast_seen == list(range(total)), "the fast client got every event, in order"
    assert health.status_code == 200
    assert slow_messages[-1]["type"] == "dropped"
    assert "too slow" in slow_messages[-1]["reason"]
    assert closed == 1013
    assert len(slow_messages) - 1 < total


def read_until_closed(socket: Any, messages: list[dict[str, Any]]) -> int | None:
    """Read every message until the server closes; the close code."""
    try:
        while True:
            messages.append(json.loads(socket.recv(timeout=30)))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
