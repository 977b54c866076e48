"""The vendored Claude Code hook fixtures are the shared ones, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

VENDORED = Path(__file__).resolve().parents[1] / "fixtures" / "claude-hooks"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "claude-hooks"


def files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_vendored_hook_fixtures_match_the_shared_contract() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this repository: nothing to compare with")
    assert files(VENDORED) == files(SHARED)
