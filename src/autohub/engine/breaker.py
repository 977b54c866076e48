"""Circuit breakers: the pure state machine, and its settings built from a BreakerPolicy.

The rules live in ``autohub.store.breakers`` beside the row they govern, so that the
store applies them inside its own transaction without importing the engine (imports
point down). This module is the engine's name for them.
"""

from __future__ import annotations

from autohub.registry.policies import BreakerPolicy
from autohub.store.breakers import (
    BREAKER_STATES,
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerSettings,
    BreakerState,
    BreakerStore,
    Permit,
    Transition,
    decide_acquire,
    decide_record,
    decide_reset,
)

__all__ = [
    "BREAKER_STATES",
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "BreakerSettings",
    "BreakerState",
    "BreakerStore",
    "Permit",
    "Transition",
    "breaker_settings",
    "decide_acquire",
    "decide_record",
    "decide_reset",
]


def breaker_settings(policy: BreakerPolicy) -> BreakerSettings:
    """The settings of a breaker declared in the registry."""
    return BreakerSettings(
        failure_threshold=policy.failure_threshold,
        reset_timeout_seconds=float(policy.reset_timeout),
        half_open_probes=policy.half_open_probes,
    )
