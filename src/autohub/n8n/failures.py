"""Failure detection: every webhook call classified into the seed's failure types, from
n8n 2.8.4's observed answers (tests/fixtures/n8n/README.md).

| answer                                                     | failure type          |
| ---------------------------------------------------------- | --------------------- |
| 401/403 (``Authorization data is wrong!``)                 | 403_unauthorized      |
| 504 from a proxy, or a client-side timeout                 | 504_gateway_timeout   |
| 500 ``There was a problem executing the workflow``         | execution_timeout     |
| a success slower than the threshold (default 30 s)         | execution_timeout     |
| 404 (unregistered or inactive webhook), 422 (bad body)     | webhook_error         |
| 500 ``Error in workflow``, and anything else not a success | unknown_error         |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureType = Literal[
    "403_unauthorized",
    "504_gateway_timeout",
    "execution_timeout",
    "webhook_error",
    "unknown_error",
]
EXECUTION_TIMEOUT_TEXT = "There was a problem executing the workflow"
WORKFLOW_ERROR_TEXT = "Error in workflow"


@dataclass(frozen=True)
class Detected:
    """A failed call: its failure type and why."""

    failure_type: FailureType
    reason: str


def classify(
    *,
    status_code: int | None,
    body: str,
    duration_seconds: float,
    slow_call_seconds: float,
    error: BaseException | None = None,
    timed_out: bool = False,
) -> Detected | None:
    """The failure a call's outcome shows, or None for a success.

    ``status_code`` is None when no answer came (``error`` says why; ``timed_out`` for a
    client-side timeout).
    """
    if status_code is None:
        if timed_out:
            return Detected(
                "504_gateway_timeout",
                f"no answer within {duration_seconds:.1f} s (client-side timeout)",
            )
        detail = f": {type(error).__name__}: {error}".rstrip(": ") if error is not None else ""
        return Detected("unknown_error", f"n8n unreachable{detail}")
    if 200 <= status_code < 300:
        if duration_seconds > slow_call_seconds:
            return Detected(
                "execution_timeout",
                f"the call took {duration_seconds:.1f} s, over the {slow_call_seconds:g} s "
                "threshold",
            )
        return None
    if status_code in (401, 403):
        return Detected(
            "403_unauthorized",
            f"{status_code}: the webhook refused the auth ({_first(body)})",
        )
    if status_code == 504:
        return Detected("504_gateway_timeout", "504 from a proxy: n8n did not answer in time")
    if status_code == 500 and EXECUTION_TIMEOUT_TEXT in body:
        return Detected(
            "execution_timeout",
            "500: the execution was cancelled (the workflow's executionTimeout)",
        )
    if status_code == 404:
        return Detected(
            "webhook_error",
            "404: the webhook is not registered (wrong path or method, "
            "or the workflow is inactive)",
        )
    if status_code == 422:
        return Detected("webhook_error", f"422: n8n refused the body ({_first(body)})")
    if status_code == 500 and WORKFLOW_ERROR_TEXT in body:
        return Detected(
            "unknown_error",
            "500: the workflow failed (Error in workflow); details in the executions API",
        )
    return Detected("unknown_error", f"{status_code}: not a success ({_first(body)})")


def _first(body: str, limit: int = 120) -> str:
    text = " ".join(body.split())
    return (text[:limit] + "…") if len(text) > limit else (text or "empty body")
