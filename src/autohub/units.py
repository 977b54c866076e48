"""Human units in definitions: durations ("500ms", "30s", "5m", "1h") and sizes ("64KB")."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_BYTES = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_duration(value: object) -> float:
    """Seconds from "500ms", "30s", "5m", "1h", "2d", a timedelta, or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 500ms, 30s, 5m, 1h")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: expected e.g. 500ms, 30s, 5m, 1h")
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from "512MB", "64KiB", "100" or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}: expected e.g. 64KB, 512MiB, 1GB")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        unit = (match.group(2) or "b").lower()
        size = int(float(match.group(1)) * _SIZE_BYTES[unit])
    else:
        raise ValueError(f"invalid size {value!r}: expected e.g. 64KB, 512MiB, 1GB")
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must not be negative")
    return size


def format_duration(seconds: float) -> str:
    """The shortest exact unit form of a duration: 0.5 -> "500ms", 90 -> "90s"."""
    for unit in ("d", "h", "m", "s"):
        factor = _DURATION_SECONDS[unit]
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{int(seconds / factor)}{unit}"
    return f"{round(seconds * 1000, 3):g}ms"


Seconds = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(float)]
"""A duration, given in human units, held as seconds."""

Bytes = Annotated[int, BeforeValidator(parse_size), PlainSerializer(int)]
"""A size, given in human units, held as bytes."""
