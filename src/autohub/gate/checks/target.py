"""What every check is given: the tree and the environment of its commands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """The tree under check (an existing directory, resolved)."""

    tree: Path
    environ: Mapping[str, str]
    """The environment commands run with."""
