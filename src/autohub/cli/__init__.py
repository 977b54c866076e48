"""The ``autohub`` command. ``--version`` and the Claude Code hook answer before anything
heavy is imported."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from autohub import __version__

        sys.stdout.write(f"autohub {__version__}\n")
        return 0
    is_hook, hook_config = _claude_code_hook(args)
    if is_hook:
        from autohub.cli.hook_fast import main as hook_main

        return hook_main(hook_config)
    from autohub.cli.app import run

    return run(args)


def _claude_code_hook(args: list[str]) -> tuple[bool, Path | None]:
    """Whether ``args`` are ``[--config FILE] hook claude-code``, and the file given;
    (False, None) for any other command line (Typer parses those)."""
    if args[-2:] != ["hook", "claude-code"]:
        return False, None
    options = args[:-2]
    if not options:
        return True, None
    if len(options) == 2 and options[0] in ("--config", "-c"):
        return True, Path(options[1])
    if len(options) == 1 and options[0].startswith("--config="):
        return True, Path(options[0].removeprefix("--config="))
    return False, None
