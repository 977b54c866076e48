"""Durations and sizes in human units."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autohub.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        (10, 10.0),
        (timedelta(minutes=2), 120.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "s", "", "-1s", True, None, "1w"])
def test_bad_durations_name_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64KB", 64_000),
        ("64KiB", 65_536),
        ("512MiB", 512 * 1024**2),
        ("1GB", 10**9),
        (100, 100),
        ("100", 100),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_format_duration_round_trips() -> None:
    for seconds in (0.5, 1.0, 90.0, 300.0, 3600.0, 86400.0):
        assert parse_duration(format_duration(seconds)) == seconds
