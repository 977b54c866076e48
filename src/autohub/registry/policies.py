"""Policies: the safeguards around every step. Parsed and validated here; the engine
gives them behaviour. Each has defaults at project, automation and step level."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from autohub.registry.actions import ActionChoice, Strict
from autohub.registry.templates import check_template
from autohub.units import Bytes, Seconds


class Backoff(Strict):
    """Exponential backoff: initial, initial*factor, ... capped at max."""

    initial: Seconds = 1.0
    factor: float = Field(default=2.0, ge=1.0, le=100.0)
    max: Seconds = 60.0

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.max < self.initial:
            raise ValueError("max must not be smaller than initial")
        return self


class RetryOn(Strict):
    """Which failures are worth another attempt; empty lists mean any failure."""

    exceptions: list[str] = Field(default_factory=list)
    exit_codes: list[int] = Field(default_factory=list)
    http_statuses: list[int] = Field(default_factory=list)

    @field_validator("http_statuses")
    @classmethod
    def _statuses(cls, statuses: list[int]) -> list[int]:
        bad = [status for status in statuses if not 100 <= status <= 599]
        if bad:
            raise ValueError(f"{bad} are not HTTP statuses (100-599)")
        return statuses

    @field_validator("exit_codes")
    @classmethod
    def _exit_codes(cls, codes: list[int]) -> list[int]:
        bad = [code for code in codes if not 0 <= code <= 255]
        if bad:
            raise ValueError(f"{bad} are not exit codes (0-255)")
        return codes


class RetryPolicy(Strict):
    attempts: int = Field(default=1, ge=1, le=100)
    backoff: Backoff = Field(default_factory=Backoff)
    jitter: Seconds = 0.0
    retry_on: RetryOn = Field(default_factory=RetryOn)


class BreakerPolicy(Strict):
    """A named circuit breaker, shared by every worker: closed -> open -> half-open."""

    failure_threshold: int = Field(default=5, ge=1)
    reset_timeout: Seconds = 30.0
    half_open_probes: int = Field(default=1, ge=1)


class FallbackTier(ActionChoice):
    """An alternative action tried in order when the step fails, with its own timeout."""

    name: str | None = None
    timeout: Seconds | None = None


DEFAULT_TIER_TIMEOUTS = (1.0, 5.0, 30.0)
"""The timeouts of fallback tiers that give none, by position (the last one repeats), where
a chain comes from configuration (``n8n.workflows.<name>.fallback``)."""


def tiers_with_default_timeouts(tiers: list[Any]) -> list[Any]:
    """``tiers`` (raw mappings) with ``timeout`` set by position where missing."""
    result: list[Any] = []
    for index, tier in enumerate(tiers):
        if isinstance(tier, dict) and tier.get("timeout") is None:
            default = DEFAULT_TIER_TIMEOUTS[min(index, len(DEFAULT_TIER_TIMEOUTS) - 1)]
            result.append({**tier, "timeout": default})
        else:
            result.append(tier)
    return result


class ConcurrencyPolicy(Strict):
    """At most ``limit`` holders of ``key`` (a template) at once; a limit of 1 is a mutex."""

    key: str = Field(min_length=1)
    limit: int = Field(default=1, ge=1)
    lease: Seconds = 60.0

    @field_validator("key")
    @classmethod
    def _template(cls, key: str) -> str:
        check_template(key)
        return key


class LimitsPolicy(Strict):
    """Resource limits for subprocess actions, and the output kept of any action."""

    memory: Bytes | None = None
    cpu_time: Seconds | None = None
    output: Bytes = 1024 * 1024


class Policies(Strict):
    """The policy fields shared by project defaults, automations and steps."""

    timeout: Seconds | None = None
    retry: RetryPolicy | None = None
    breaker: str | None = None
    fallback: list[FallbackTier] = Field(default_factory=list)
    concurrency: list[ConcurrencyPolicy] = Field(default_factory=list)
    limits: LimitsPolicy | None = None

    @field_validator("concurrency", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


POLICY_FIELDS = tuple(Policies.model_fields)


def merge_policies(*levels: BaseModel) -> Policies:
    """Project, automation, step: each policy given at a lower level replaces the higher one."""
    merged: dict[str, Any] = {}
    for level in levels:
        for name in level.model_fields_set & set(POLICY_FIELDS):
            merged[name] = getattr(level, name)
    return Policies.model_validate(merged)
