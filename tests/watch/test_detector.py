"""KeywordDetector: categories, base confidences, the failure penalty, the clear-context
bonus, clamping, whole-word matching, zero counts and ties (no database)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autohub.watch import detector
from autohub.watch.detector import CONTEXT_CHARS, Detection, KeywordDetector


def detect(text: object) -> Detection | None:
    return KeywordDetector().detect(text)


def found(text: str) -> Detection:
    detection = detect(text)
    assert detection is not None, f"nothing detected in {text!r}"
    return detection


# -- categories and base confidences ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "keyword", "confidence"),
    [
        ("Changes committed", "commit-related", "committed", 95),
        ("Branch pushed to origin", "commit-related", "pushed", 95),
        ("Build succeeded", "build-success", "Build succeeded", 90),
        ("the site was deployed", "deployment", "deployed", 90),
        ("all tests passed", "test-success", "all tests passed", 88),
        ("Bug fixed", "bug-fixed", "Bug fixed", 85),
        ("README created", "file-created", "created", 75),
        ("wrote the report", "file-created", "wrote", 75),
    ],
)
def test_each_category_has_its_base_confidence(
    text: str, category: str, keyword: str, confidence: int
) -> None:
    detection = found(text)
    assert (detection.category, detection.keyword, detection.confidence) == (
        category,
        keyword,
        confidence,
    )
    assert detection.failure_indicator is None
    assert detection.context == text


def test_text_without_a_keyword_detects_nothing() -> None:
    assert detect("Listing the directory: src tests docs") is None
    assert detect("") is None


def test_keywords_match_case_insensitively_and_keep_their_spelling() -> None:
    detection = found("ALL TESTS PASSED")
    assert (detection.keyword, detection.category) == ("ALL TESTS PASSED", "test-success")


def test_a_phrase_may_span_whitespace_and_is_reported_folded() -> None:
    detection = found("build\n   succeeded")
    assert (detection.keyword, detection.category) == ("build succeeded", "build-success")


# -- the failure penalty and the clear-context bonus -----------------------------------------


def test_a_number_on_the_keyword_line_adds_the_clear_context_bonus() -> None:
    assert found("5 passed in 0.12s").confidence == 88 + 5
    assert found("fixed 2 bugs").confidence == 85 + 5
    assert found("created 2 files").confidence == 75 + 5


def test_a_commit_hash_is_a_clear_context() -> None:
    assert found("committed deadbeef").confidence == 95 + 5


def test_the_bonus_needs_the_number_on_the_keyword_line() -> None:
    assert found("deployed\nversion 2").confidence == 90


def test_a_failure_anywhere_in_the_text_subtracts_30() -> None:
    detection = found("deployed\nerror: the health check timed out")
    assert detection.confidence == 90 - 30
    assert detection.failure_indicator == "error"
    assert detection.context == "deployed"


def test_a_failure_on_the_keyword_line_removes_the_bonus_as_well() -> None:
    detection = found("3 passed, 1 failed in 0.5s")
    assert detection.confidence == 88 - 30  # no +5: the line is not clear
    assert detection.failure_indicator == "failed"


def test_the_failure_indicator_is_reported_as_written() -> None:
    assert found("compiled successfully\nTraceback (most recent call last):").failure_indicator == (
        "Traceback"
    )


def test_a_multi_word_failure_indicator_counts() -> None:
    detection = found("pushed\nfatal: remote not found")
    assert detection.confidence == 95 - 30
    assert detection.failure_indicator == "fatal"


@pytest.mark.parametrize(
    "text",
    ["5 passed, 0 failed", "no errors, 5 passed", "errors: 0\n5 passed", "5 passed failures=0"],
)
def test_counts_of_zero_are_not_failures(text: str) -> None:
    detection = found(text)
    assert detection.failure_indicator is None
    assert detection.confidence == 88 + 5


def test_a_count_ending_in_zero_is_still_a_failure() -> None:
    detection = found("5 passed, 10 errors")
    assert detection.failure_indicator == "errors"
    assert detection.confidence == 88 - 30


def test_a_zero_count_does_not_hide_a_real_failure_elsewhere() -> None:
    detection = found("5 passed, 0 failed\nFATAL: disk full")
    assert detection.failure_indicator == "FATAL"
    assert detection.confidence == 88 + 5 - 30  # the keyword's own line is clear


# -- clamping -------------------------------------------------------------------------------


def test_the_highest_seed_confidence_is_exactly_100() -> None:
    assert found("[main 1a2b3c4] Add login\n 2 files changed, 10 insertions(+)").confidence == 100


def with_base(monkeypatch: pytest.MonkeyPatch, name: str, base_confidence: int) -> None:
    """Change one seed category's base confidence (same keywords)."""
    categories = tuple(
        dataclasses.replace(category, base_confidence=base_confidence)
        if category.name == name
        else category
        for category in detector.CATEGORIES
    )
    monkeypatch.setattr(detector, "CATEGORIES", categories)


def test_a_confidence_above_100_is_clamped_to_100(monkeypatch: pytest.MonkeyPatch) -> None:
    with_base(monkeypatch, "commit-related", 99)
    assert found("committed 1a2b3c4").confidence == 100


def test_a_confidence_below_0_is_clamped_to_0(monkeypatch: pytest.MonkeyPatch) -> None:
    with_base(monkeypatch, "file-created", 10)
    detection = found("created\nerror")
    assert detection.confidence == 0
    assert detection.failure_indicator == "error"


# -- whole words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "the check was bypassed",
        "passed_result = true",
        "uncommitted changes",
        "prefixed names",
        "recreated nothing",
    ],
)
def test_keywords_inside_other_words_do_not_match(text: str) -> None:
    assert detect(text) is None


def test_failure_indicators_inside_other_words_do_not_count() -> None:
    detection = found("5 passed: the terror of failover drills")
    assert detection.failure_indicator is None
    assert detection.confidence == 93


# -- which match wins ------------------------------------------------------------------------


def test_the_most_confident_category_wins() -> None:
    detection = found("README created\nbug fixed\n2 files changed")
    assert (detection.category, detection.confidence) == ("commit-related", 100)


def test_the_bonus_can_make_a_later_category_win() -> None:
    detection = found("build succeeded\ndeployed 2 services")
    assert (detection.category, detection.confidence) == ("deployment", 95)


@pytest.mark.parametrize("text", ["build succeeded\ndeployed", "deployed\nbuild succeeded"])
def test_a_tie_goes_to_the_earlier_category_wherever_it_appears(text: str) -> None:
    detection = found(text)
    assert (detection.category, detection.confidence) == ("build-success", 90)


def test_the_longest_phrase_of_a_category_wins_at_a_position() -> None:
    assert found("all tests passed").keyword == "all tests passed"
    assert found("file created").keyword == "file created"


# -- the context ----------------------------------------------------------------------------


def test_the_context_is_the_keyword_line_with_whitespace_folded() -> None:
    detection = found("collecting...\n  5   passed\tin 0.1s  \nbye")
    assert detection.context == "5 passed in 0.1s"


def test_a_long_line_is_cut_to_200_characters_around_the_keyword() -> None:
    text = "a " * 300 + "deployed" + " b" * 300
    detection = found(text)
    assert len(detection.context) <= CONTEXT_CHARS
    assert "deployed" in detection.context
    assert detection.context.index("deployed") >= 90  # the text before it is kept too


TOKEN = "ghp_" + "A1b2C3d4E5" * 4


@pytest.mark.parametrize(
    "text",
    [
        "5 passed " + "x " * 92 + TOKEN + " tail",  # the cut after the keyword is in TOKEN
        "y " * 40 + TOKEN + " " + "z " * 28 + "5 passed" + " w" * 60,  # the cut before it
    ],
)
def test_a_cut_never_keeps_part_of_a_word(text: str) -> None:
    """Half a token would no longer look like a secret to the redaction that comes later."""
    context = found(text).context
    assert len(context) <= CONTEXT_CHARS
    assert "5 passed" in context
    assert set(context.split()) <= set(text.split())  # whole words only
    assert TOKEN not in context


# -- properties -------------------------------------------------------------------------------

KEYWORDISH = st.sampled_from(
    [
        "passed",
        "all tests passed",
        "committed",
        "files changed",
        "deployed",
        "fixed",
        "created",
        "build succeeded",
        "failed",
        "0 failed",
        "no errors",
        "error",
        "not found",
        "Traceback",
        "1a2b3c4",
        "42",
        "\n",
        " ",
        "x" * 150,
    ]
)
MIXED_TEXT = st.lists(st.one_of(KEYWORDISH, st.text(max_size=40)), max_size=30).map("".join)


@given(st.text())
def test_detect_never_raises_on_any_text(text: str) -> None:
    detection = detect(text)
    assert detection is None or isinstance(detection, Detection)


@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_detect_returns_none_for_anything_but_a_string(value: object) -> None:
    assert detect(value) is None


@given(MIXED_TEXT)
def test_confidence_stays_within_0_and_100_and_the_context_within_200(text: str) -> None:
    detection = detect(text)
    if detection is not None:
        assert 0 <= detection.confidence <= 100
        assert len(detection.context) <= CONTEXT_CHARS
        assert detection.keyword.lower() in " ".join(text.lower().split())
