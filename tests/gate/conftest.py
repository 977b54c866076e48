"""Fixtures of the gate tests: sample repositories and the environment their commands
run with (``gate_samples.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import gate_samples

from gate_samples import fast_environ


@pytest.fixture
def environ() -> dict[str, str]:
    """The environment of the checks' commands (pytest without plugin autoloading)."""
    return fast_environ()
