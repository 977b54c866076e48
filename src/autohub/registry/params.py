"""Params: the typed inputs of an automation, and their validation at trigger time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from autohub.errors import InvalidInput
from autohub.registry.actions import Strict

ParamType = Literal["string", "integer", "number", "boolean", "list", "object"]
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}
_UNSET: Any = object()


def _matches(kind: str, value: Any) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


class Param(Strict):
    """One param: a type, and a default, or required, optionally from a closed set."""

    type: ParamType = "string"
    description: str = ""
    default: Any = None
    required: bool = False
    enum: list[Any] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        has_default = "default" in self.model_fields_set and self.default is not None
        if self.required and has_default:
            raise ValueError("a required param has no default: drop one of them")
        if has_default and not _matches(self.type, self.default):
            raise ValueError(f"default {self.default!r} is not {_article(self.type)}")
        if self.enum is not None:
            bad = [value for value in self.enum if not _matches(self.type, value)]
            if bad:
                raise ValueError(f"enum values {bad!r} are not of type {self.type}")
            if has_default and self.default not in self.enum:
                raise ValueError(f"default {self.default!r} is not one of the enum {self.enum!r}")
        return self

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` as this param's type; strings from a command line are parsed."""
        if isinstance(value, str) and self.type != "string":
            value = _parse_text(name, self.type, value)
        if not _matches(self.type, value):
            if self.type == "number" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            else:
                raise InvalidInput(f"param {name}: {value!r} is not {_article(self.type)}")
        if self.enum is not None and value not in self.enum:
            choices = ", ".join(repr(choice) for choice in self.enum)
            raise InvalidInput(f"param {name}: {value!r} is not one of {choices}")
        return value


def _parse_text(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        return json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"param {name}: {text!r} is not {_article(kind)}") from exc


def validate_params(schema: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Typed params with defaults applied; every problem is listed at once."""
    problems = [
        f"param {key}: unknown (known: {', '.join(schema) or 'none'})"
        for key in given
        if key not in schema
    ]
    result: dict[str, Any] = {}
    for name, param in schema.items():
        if name in given:
            try:
                result[name] = param.coerce(name, given[name])
            except InvalidInput as exc:
                problems.append(exc.message)
        elif param.required:
            problems.append(f"param {name}: required ({param.type})")
        else:
            result[name] = param.default
    if problems:
        raise InvalidInput("invalid params: " + "; ".join(problems))
    return result


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
