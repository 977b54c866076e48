"""How the CLI presents things: Rich on a terminal, plain text in pipes, errors on stderr."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from autohub.errors import AutohubError, ProblemsError

# Soft wrap: a message is one line however long (a path, or a problem's
# `file:line: key: message`, stays whole and greppable in a pipe); tables still fit
# the width, and trees are printed with soft_wrap=False to wrap their labels.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_error(error: AutohubError) -> None:
    if isinstance(error, ProblemsError):
        head, *lines = error.message.splitlines()
        stderr.print(f"[bold red]error:[/] {escape(head)}")
        for line in lines:
            stderr.print(escape(line))
    else:
        stderr.print(f"[bold red]error:[/] {escape(error.message)}")


def note(text: str) -> None:
    stderr.print(f"[dim]{escape(text)}[/]")


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def short_json(value: Any, width: int = 60) -> str:
    if not value:
        return ""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
