"""Automations declared in Python: ``@automation`` on a function in a module that
autohub.yaml names under ``modules:``.

The decorator only attaches the definition to the function; the loader finds it
when it imports the module, so importing a module twice registers nothing twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__autohub_automation__"


@dataclass(frozen=True)
class DeclaredAutomation:
    """A definition declared in Python, with where it was declared."""

    data: dict[str, Any]
    file: str
    line: int


def automation(name: str | None = None, **fields: Any) -> Callable[[F], F]:
    """Declare an automation. Without ``steps``, the function itself is its one step::

    @automation(params={"days": {"type": "integer", "default": 7}}, timeout="5m")
    def rotate_logs(ctx): ...
    """

    def decorate(function: F) -> F:
        data = dict(fields)
        data["name"] = name or function.__name__.replace("_", "-")
        if "steps" not in data:
            target = f"{function.__module__}:{function.__qualname__}"
            data["steps"] = [{"id": "main", "python": target}]
        file = inspect.getsourcefile(function) or "<unknown>"
        line = inspect.getsourcelines(function)[1]
        setattr(function, ATTRIBUTE, DeclaredAutomation(data, file, line))
        return function

    return decorate
