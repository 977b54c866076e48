"""The ``autohub`` command. ``--version`` answers before anything heavy is imported."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from autohub import __version__

        sys.stdout.write(f"autohub {__version__}\n")
        return 0
    from autohub.cli.app import run

    return run(args)
