"""The circuit breaker's pure state machine: thresholds, reset timeout, half-open probes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from locking_helpers import START

from autohub.engine.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerSettings,
    BreakerState,
    Permit,
    breaker_settings,
    decide_acquire,
    decide_record,
    decide_reset,
)
from autohub.errors import InvalidInput
from autohub.registry.policies import BreakerPolicy

SETTINGS = BreakerSettings(failure_threshold=3, reset_timeout_seconds=10, half_open_probes=1)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def fail(state: BreakerState, times: int = 1, now: datetime = START) -> BreakerState:
    for _ in range(times):
        state, _ = decide_record(state, SETTINGS, success=False, probe=False, now=now)
    return state


def opened() -> BreakerState:
    return fail(BreakerState(), SETTINGS.failure_threshold)


def test_settings_come_from_the_registry_policy() -> None:
    policy = BreakerPolicy.model_validate(
        {"failure_threshold": 2, "reset_timeout": "1m", "half_open_probes": 3}
    )
    assert breaker_settings(policy) == BreakerSettings(2, 60.0, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"failure_threshold": 0},
        {"reset_timeout_seconds": -1},
        {"half_open_probes": 0},
    ],
)
def test_settings_refuse_impossible_values(fields: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        BreakerSettings(**fields)  # type: ignore[arg-type]


def test_a_closed_breaker_admits_every_call_without_changing() -> None:
    state = BreakerState()
    new_state, permit, transitions = decide_acquire(state, SETTINGS, START)
    assert (new_state, permit, transitions) == (state, Permit(allowed=True), [])


def test_it_opens_at_the_threshold_of_consecutive_failures() -> None:
    state = fail(BreakerState(), SETTINGS.failure_threshold - 1)
    assert (state.state, state.failures) == (CLOSED, 2)

    state, transitions = decide_record(state, SETTINGS, success=False, probe=False, now=at(1))

    assert transitions == [(CLOSED, OPEN)]
    assert (state.state, state.failures, state.opened_at) == (OPEN, 3, at(1))


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    state = fail(BreakerState(), 2)
    state, transitions = decide_record(state, SETTINGS, success=True, probe=False, now=START)
    assert (state.state, state.failures, transitions) == (CLOSED, 0, [])

    state = fail(state, 2)
    assert state.state == CLOSED


def test_an_open_breaker_refuses_until_the_reset_timeout() -> None:
    state = opened()

    new_state, permit, transitions = decide_acquire(state, SETTINGS, at(4))

    assert not permit.allowed
    assert permit.retry_after_seconds == pytest.approx(6)
    assert (new_state, transitions) == (state, [])


def test_after_the_reset_timeout_it_goes_half_open_and_admits_one_probe() -> None:
    state = opened()

    state, permit, transitions = decide_acquire(state, SETTINGS, at(10))

    assert permit == Permit(allowed=True, probe=True)
    assert transitions == [(OPEN, HALF_OPEN)]
    assert (state.state, state.probes_in_flight) == (HALF_OPEN, 1)


def test_half_open_admits_no_more_probes_than_allowed() -> None:
    settings = BreakerSettings(failure_threshold=1, reset_timeout_seconds=10, half_open_probes=2)
    state, _ = decide_record(BreakerState(), settings, success=False, probe=False, now=START)

    permits = []
    for second in (10, 11, 12):
        state, permit, _ = decide_acquire(state, settings, at(second))
        permits.append(permit)

    assert [p.allowed for p in permits] == [True, True, False]
    assert [p.probe for p in permits] == [True, True, False]
    assert state.probes_in_flight == 2
    assert permits[2].retry_after_seconds == pytest.approx(9)


def test_a_probe_success_closes_the_breaker() -> None:
    state, _, _ = decide_acquire(opened(), SETTINGS, at(10))

    state, transitions = decide_record(state, SETTINGS, success=True, probe=True, now=at(11))

    assert transitions == [(HALF_OPEN, CLOSED)]
    assert state == BreakerState(CLOSED, 0, 0, None, at(11))


def test_a_probe_failure_reopens_it_for_another_reset_timeout() -> None:
    state, _, _ = decide_acquire(opened(), SETTINGS, at(10))

    state, transitions = decide_record(state, SETTINGS, success=False, probe=True, now=at(11))

    assert transitions == [(HALF_OPEN, OPEN)]
    assert (state.state, state.opened_at, state.probes_in_flight) == (OPEN, at(11), 0)
    _, permit, _ = decide_acquire(state, SETTINGS, at(20))
    assert not permit.allowed
    assert permit.retry_after_seconds == pytest.approx(1)


def test_the_late_result_of_a_call_admitted_before_opening_changes_nothing() -> None:
    open_state = opened()
    half_open, _, _ = decide_acquire(open_state, SETTINGS, at(10))

    for state in (open_state, half_open):
        for success in (True, False):
            after, transitions = decide_record(state, SETTINGS, success, probe=False, now=at(11))
            assert (after, transitions) == (state, [])


def test_a_lost_probe_frees_its_place_after_one_reset_timeout() -> None:
    state, _, _ = decide_acquire(opened(), SETTINGS, at(10))  # this probe's process dies

    _, refused, _ = decide_acquire(state, SETTINGS, at(19))
    state, permit, transitions = decide_acquire(state, SETTINGS, at(20))

    assert not refused.allowed
    assert permit == Permit(allowed=True, probe=True)
    assert (state.probes_in_flight, transitions) == (1, [])


def test_reset_closes_and_forgets_failures() -> None:
    state, transitions = decide_reset(opened(), at(1))
    assert (state.state, state.failures, transitions) == (CLOSED, 0, [(OPEN, CLOSED)])

    closed = BreakerState()
    assert decide_reset(closed, at(1)) == (closed, [])
