"""Rendering step inputs: Jinja2 in a sandbox, with params and earlier steps' outputs.

Inputs are rendered when a step runs, never when definitions load. An undefined
name is an error (``StrictUndefined``), not an empty string.

A step's secret references (``${NAME}``) are resolved after its inputs are rendered, so
a rendered value (a param, an earlier step's output, an event's evidence) must not
become or complete one: with ``shielded``, every ``$`` and ``{`` that an expression
outputs comes out as an unguessable stand-in, which ``unshield`` turns back once the
secrets are resolved. A webhook caller who sends ``${DATABASE_PASSWORD}`` as a param
gets that text, not the password.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


class RenderError(Exception):
    """A template that cannot be rendered; the message says which and why."""


_NONCE = secrets.token_hex(8)
_SHIELDS = {"$": f"\x00{_NONCE}d\x00", "{": f"\x00{_NONCE}b\x00"}
"""What a shielded render outputs for ``$`` and ``{``: unguessable, so no input can
forge one."""


def _shielded(value: Any) -> Any:
    text = value if isinstance(value, str) else str(value)
    for character, shield in _SHIELDS.items():
        if character in text:
            text = text.replace(character, shield)
    return text


@lru_cache(maxsize=2)
def _environment(shielded: bool) -> SandboxedEnvironment:
    # Imported on first use: runs whose inputs hold no template never load Jinja2.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    if shielded:
        return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, finalize=_shielded)
    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@lru_cache(maxsize=4096)
def _compile(text: str, shielded: bool) -> Any:
    return _environment(shielded).from_string(text)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render_text(text: str, variables: dict[str, Any], *, shielded: bool = False) -> str:
    if not is_template(text):
        return text
    from jinja2 import TemplateError

    try:
        rendered: str = _compile(text, shielded).render(variables)
    except TemplateError as exc:
        raise RenderError(f"template {text!r}: {exc}") from exc
    return rendered


def render(value: Any, variables: dict[str, Any], *, shielded: bool = False) -> Any:
    """``value`` with every string inside it rendered (dict keys included)."""
    if isinstance(value, str):
        return render_text(value, variables, shielded=shielded)
    if isinstance(value, dict):
        return {
            render(key, variables, shielded=shielded): render(item, variables, shielded=shielded)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [render(item, variables, shielded=shielded) for item in value]
    return value


def unshield(value: Any) -> Any:
    """``value`` with the ``$`` and ``{`` a shielded render hid given back."""
    if isinstance(value, str):
        if "\x00" in value:
            for character, shield in _SHIELDS.items():
                value = value.replace(shield, character)
        return value
    if isinstance(value, dict):
        return {unshield(key): unshield(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unshield(item) for item in value]
    return value


def has_templates(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_templates(k) or has_templates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_templates(item) for item in value)
    return False
