"""Template syntax checks for definitions (rendering belongs to the engine)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    from jinja2.sandbox import SandboxedEnvironment  # only definitions with templates pay

    return SandboxedEnvironment(autoescape=False)


def check_template(text: str) -> None:
    """Raise ValueError naming the problem when ``text`` is not a valid template."""
    if "{{" not in text and "{%" not in text:
        return
    from jinja2 import TemplateSyntaxError

    try:
        _environment().parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"invalid template {text!r}: {exc.message}") from exc
