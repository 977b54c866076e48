"""Retry decisions: whether a failed attempt deserves another, and when."""

from __future__ import annotations

import random
from dataclasses import dataclass

from autohub.registry.policies import RetryPolicy


@dataclass(frozen=True)
class Failure:
    """What is known of a failed attempt, for matching ``retry_on``."""

    error_types: tuple[str, ...] = ()
    exit_code: int | None = None
    http_status: int | None = None
    final: bool = False
    """A decision that another attempt cannot change: never retried."""


def is_retryable(policy: RetryPolicy, failure: Failure) -> bool:
    """Whether ``failure`` matches ``retry_on`` (empty lists: every failure does, but a
    final one)."""
    if failure.final:
        return False
    on = policy.retry_on
    if not (on.exceptions or on.exit_codes or on.http_statuses):
        return True
    if on.exceptions and set(on.exceptions) & set(failure.error_types):
        return True
    if on.exit_codes and failure.exit_code in on.exit_codes:
        return True
    return bool(on.http_statuses and failure.http_status in on.http_statuses)


def next_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    backoff = policy.backoff
    delay = min(backoff.max, backoff.initial * backoff.factor ** (attempt - 1))
    if policy.jitter > 0:
        delay += (rng or random).uniform(0, policy.jitter)
    return delay


def should_retry(policy: RetryPolicy | None, attempt: int, failure: Failure) -> bool:
    return policy is not None and attempt < policy.attempts and is_retryable(policy, failure)
