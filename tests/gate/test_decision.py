"""The decision table and the confidence (docs/gate.md), as properties over every
combination of check statuses."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autohub.gate.decision import WEIGHTS, confidence, decide
from autohub.gate.report import CheckResult, CheckStatus
from autohub.registry.actions import GATE_CHECKS

STATUSES: tuple[CheckStatus, ...] = get_args(CheckStatus)
RANK = {"GO": 0, "WARNING": 1, "NO-GO": 2}
BETTER: dict[CheckStatus, tuple[CheckStatus, ...]] = {
    "failed": ("missing", "passed"),
    "missing": ("passed",),
    "skipped": (),
    "passed": (),
}

statuses = st.fixed_dictionaries({name: st.sampled_from(STATUSES) for name in GATE_CHECKS})


def results(chosen: dict[str, CheckStatus]) -> list[CheckResult]:
    return [CheckResult(name, status, "-") for name, status in chosen.items()]


@given(statuses)
def test_the_decision_is_the_documented_table(chosen: dict[str, CheckStatus]) -> None:
    bad = {name for name, status in chosen.items() if status in ("failed", "missing")}
    expected = "NO-GO" if bad - {"performance"} else "WARNING" if bad else "GO"
    assert decide(results(chosen)) == expected


@given(statuses, st.sampled_from(GATE_CHECKS), st.data())
def test_a_better_check_never_lowers_the_confidence_nor_worsens_the_decision(
    chosen: dict[str, CheckStatus], name: str, data: st.DataObject
) -> None:
    options = BETTER[chosen[name]]
    if not options:
        return
    better = {**chosen, name: data.draw(st.sampled_from(options))}
    assert 0 <= confidence(results(chosen)) <= confidence(results(better)) <= 100
    assert RANK[decide(results(better))] <= RANK[decide(results(chosen))]


@pytest.mark.parametrize("name", [n for n in GATE_CHECKS if n != "performance"])
def test_a_single_failure_other_than_performance_is_no_go(name: str) -> None:
    chosen: dict[str, CheckStatus] = dict.fromkeys(GATE_CHECKS, "passed")
    chosen[name] = "failed"
    assert decide(results(chosen)) == "NO-GO"
    assert confidence(results(chosen)) == 100 - WEIGHTS[name]


def test_confidence_weighs_passed_missing_and_skipped_checks() -> None:
    every: dict[str, CheckStatus] = dict.fromkeys(GATE_CHECKS, "passed")
    assert sum(WEIGHTS.values()) == 100
    assert confidence(results(every)) == 100
    assert confidence(results({**every, "performance": "missing"})) == 95
    assert confidence(results({**every, "performance": "failed"})) == 90
    only_docs: dict[str, CheckStatus] = dict.fromkeys(GATE_CHECKS, "skipped")
    only_docs["documentation"] = "passed"
    assert (decide(results(only_docs)), confidence(results(only_docs))) == ("GO", 10)
