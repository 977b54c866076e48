"""Rendering step inputs: Jinja2 in a sandbox, with params and earlier steps' outputs.

Inputs are rendered when a step runs, never when definitions load. An undefined
name is an error (``StrictUndefined``), not an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


class RenderError(Exception):
    """A template that cannot be rendered; the message says which and why."""


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # Imported on first use: runs whose inputs hold no template never load Jinja2.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@lru_cache(maxsize=4096)
def _compile(text: str) -> Any:
    return _environment().from_string(text)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render_text(text: str, variables: dict[str, Any]) -> str:
    if not is_template(text):
        return text
    from jinja2 import TemplateError

    try:
        rendered: str = _compile(text).render(variables)
    except TemplateError as exc:
        raise RenderError(f"template {text!r}: {exc}") from exc
    return rendered


def render(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every string inside it rendered (dict keys included)."""
    if isinstance(value, str):
        return render_text(value, variables)
    if isinstance(value, dict):
        return {render(key, variables): render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    return value


def has_templates(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_templates(k) or has_templates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_templates(item) for item in value)
    return False
