"""The failure classifier: n8n 2.8.4's observed answers (fixtures/n8n/README.md) mapped to
the seed's failure types."""

from __future__ import annotations

import httpx
import pytest

from autohub.n8n.breaker import breaker_name, instance_down
from autohub.n8n.failures import classify

NOT_REGISTERED = (
    '{"code":404,"message":"The requested webhook \\"POST does-not-exist\\" is not registered."}'
)


@pytest.mark.parametrize(
    ("status", "body", "expected", "in_reason"),
    [
        (403, "Authorization data is wrong!", "403_unauthorized", "Authorization data is wrong!"),
        (401, "Authorization is required!", "403_unauthorized", "401"),
        (504, "<html>Gateway Time-out</html>", "504_gateway_timeout", "proxy"),
        (
            500,
            '{"code":0,"message":"There was a problem executing the workflow"}',
            "execution_timeout",
            "executionTimeout",
        ),
        (404, NOT_REGISTERED, "webhook_error", "not registered"),
        (
            422,
            '{"code":422,"message":"Failed to parse request body"}',
            "webhook_error",
            "Failed to parse request body",
        ),
        (500, '{"message":"Error in workflow"}', "unknown_error", "Error in workflow"),
        (502, "Bad Gateway", "unknown_error", "502"),
        (302, "", "unknown_error", "empty body"),
    ],
)
def test_each_answer_of_n8n_has_its_failure_type_and_reason(
    status: int, body: str, expected: str, in_reason: str
) -> None:
    detected = classify(status_code=status, body=body, duration_seconds=0.1, slow_call_seconds=30)
    assert detected is not None
    assert detected.failure_type == expected
    assert in_reason in detected.reason


@pytest.mark.parametrize("status", [200, 201, 204])
def test_a_quick_success_is_no_failure(status: int) -> None:
    assert (
        classify(status_code=status, body="{}", duration_seconds=0.2, slow_call_seconds=30) is None
    )


def test_the_default_onreceived_answer_is_a_success_the_caller_cannot_see_past() -> None:
    body = '{"message":"Workflow was started"}'
    assert classify(status_code=200, body=body, duration_seconds=0.1, slow_call_seconds=30) is None


def test_a_success_over_the_threshold_is_an_execution_timeout() -> None:
    detected = classify(status_code=200, body="{}", duration_seconds=31.5, slow_call_seconds=30)
    assert detected is not None
    assert detected.failure_type == "execution_timeout"
    assert "31.5 s, over the 30 s threshold" in detected.reason


def test_a_client_side_timeout_is_a_gateway_timeout() -> None:
    detected = classify(
        status_code=None,
        body="",
        duration_seconds=3.0,
        slow_call_seconds=30,
        error=httpx.ReadTimeout("timed out"),
        timed_out=True,
    )
    assert detected is not None
    assert detected.failure_type == "504_gateway_timeout"
    assert "client-side timeout" in detected.reason


def test_no_answer_at_all_is_an_unknown_error_saying_n8n_is_unreachable() -> None:
    detected = classify(
        status_code=None,
        body="",
        duration_seconds=0.01,
        slow_call_seconds=30,
        error=httpx.ConnectError("All connection attempts failed"),
    )
    assert detected is not None
    assert detected.failure_type == "unknown_error"
    assert detected.reason == "n8n unreachable: ConnectError: All connection attempts failed"


def test_the_breaker_is_one_per_instance_and_counts_only_instance_failures() -> None:
    assert breaker_name("http://127.0.0.1:5678/") == "n8n:127.0.0.1:5678"
    assert breaker_name("https://n8n.example.com") == "n8n:n8n.example.com:443"
    assert [instance_down(s) for s in (None, 502, 503, 504)] == [True] * 4
    assert [instance_down(s) for s in (200, 403, 404, 422, 500)] == [False] * 5
