"""HTTP actions, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from engine_helpers import free_port, http_spec, make_request, run

from autohub.engine.actions.base import Limits


def test_json_endpoint_gives_status_headers_json_and_text(http_server: str) -> None:
    result = run(make_request("http", http_spec(f"{http_server}/json")))

    assert result.ok, result.error
    assert result.http_status == 200
    body = '{"hello": "world", "n": 1}'
    assert result.output == {
        "status": 200,
        "headers": {"content-type": "application/json", "content-length": str(len(body))},
        "json": {"hello": "world", "n": 1},
        "text": body,
    }


def test_method_headers_params_and_json_body_are_sent(http_server: str) -> None:
    spec = http_spec(
        f"{http_server}/echo?team=ops",
        method="POST",
        headers={"X-Team": "ops"},
        params={"dry_run": "1"},
        json={"version": "1.2.3"},
    )

    result = run(make_request("http", spec))

    assert result.ok, result.error
    assert result.output["json"] == {
        "method": "POST",
        "query": {"team": "ops", "dry_run": "1"},
        "x_team": "ops",
        "content_type": "application/json",
        "body": {"version": "1.2.3"},
    }


def test_status_outside_expect_status_fails_with_http_status(http_server: str) -> None:
    spec = http_spec(f"{http_server}/status/503", expect_status=[200, 201, 202, 204])

    result = run(make_request("http", spec))

    assert not result.ok
    assert result.error_type == "HTTPStatus"
    assert result.error_types == ("HTTPStatus",)
    assert result.http_status == 503
    assert result.error == (
        f"GET {http_server}/status/503 answered 503 Service Unavailable (expected 200-202, 204)"
    )
    assert result.output["text"] == "as asked\n"


def test_expected_non_2xx_status_succeeds(http_server: str) -> None:
    result = run(make_request("http", http_spec(f"{http_server}/status/404", expect_status=[404])))

    assert result.ok, result.error
    assert result.http_status == 404


def test_redirect_is_not_followed(http_server: str) -> None:
    result = run(make_request("http", http_spec(f"{http_server}/redirect", expect_status=[302])))

    assert result.ok, result.error
    assert result.output["headers"]["location"] == "/json"


def test_connection_refused_is_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/json"

    result = run(make_request("http", http_spec(url), timeout_seconds=5))

    assert not result.ok
    assert not result.timed_out
    assert result.error_type == "ConnectError"
    assert result.error_types[:6] == (
        "ConnectError",
        "NetworkError",
        "TransportError",
        "RequestError",
        "HTTPError",
        "Exception",
    )
    assert (result.error or "").startswith(f"GET {url}: ConnectError")


def test_slow_endpoint_times_out(http_server: str) -> None:
    result = run(
        make_request("http", http_spec(f"{http_server}/slow?seconds=3"), timeout_seconds=0.3)
    )

    assert not result.ok
    assert result.timed_out
    assert "TimeoutError" in result.error_types
    assert result.error_type in {"ReadTimeout", "TimeoutError"}
    assert result.duration_seconds < 2


def test_flaky_endpoint_answers_504_then_504_then_200(http_server: str) -> None:
    request = make_request("http", http_spec(f"{http_server}/flaky/deploy"))

    results = [run(request) for _ in range(3)]

    assert [result.http_status for result in results] == [504, 504, 200]
    assert [result.ok for result in results] == [False, False, True]
    assert [result.error_type for result in results] == ["HTTPStatus", "HTTPStatus", None]
    assert results[2].output["json"] == {"calls": 3}


def test_body_text_is_capped_at_the_output_limit(http_server: str) -> None:
    request = make_request(
        "http", http_spec(f"{http_server}/big?bytes=5000"), limits=Limits(output_bytes=1000)
    )

    result = run(request)

    assert result.ok, result.error
    assert result.output["text"] == "y" * 1000 + "…[truncated 4000 bytes]"
    assert result.output["json"] is None


def test_invalid_url_is_a_failed_result() -> None:
    result = run(make_request("http", http_spec("ftp://example.com/file")))

    assert not result.ok
    assert result.error_type == "InvalidAction"
    assert (result.error or "").startswith("invalid http action: url: ")
