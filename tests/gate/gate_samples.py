"""Small sample repositories for the gate, one per decision, and a fast environment for
their test commands.

Their tests are a line or two each (never autohub's own suite), and their pytest runs
without plugin autoloading: ~0.4 s instead of ~2 s with this venv's plugins.
"""

from __future__ import annotations

import os
from pathlib import Path

PASSING_TESTS = """
def test_adds():
    assert 1 + 1 == 2


def test_joins():
    assert "a" + "b" == "ab"
"""
FAILING_TESTS = """
def test_adds():
    assert 1 + 1 == 2


def test_breaks():
    assert 1 + 1 == 3
"""
INTEGRATION = """
def test_flow():
    assert sorted([3, 1, 2]) == [1, 2, 3]
"""
FAST_PYTEST = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
BENCHMARK = "print('sort: 1.2 us per call')\n"


def fast_environ() -> dict[str, str]:
    """This environment, with pytest's plugin autoloading off."""
    return {**os.environ, FAST_PYTEST: "1"}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def go_repo(root: Path) -> Path:
    """Every check passes: GO, confidence 100."""
    return write(
        root,
        {
            "README.md": "# Sample\n\nSorts numbers.\n",
            "ROLLBACK.md": "Redeploy the previous tag.\n",
            "tests/test_unit.py": PASSING_TESTS,
            "tests/integration_flow.py": INTEGRATION,
            "benchmarks.py": BENCHMARK,
        },
    )


def warning_repo(root: Path) -> Path:
    """Everything passes but there is no benchmark: WARNING."""
    go_repo(root)
    (root / "benchmarks.py").unlink()
    return root


def no_go_repo(root: Path) -> Path:
    """One test fails (and nothing else does): NO-GO."""
    go_repo(root)
    return write(root, {"tests/test_unit.py": FAILING_TESTS})
