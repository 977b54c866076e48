"""Reading an action's rendered spec back into its registry model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autohub.engine.actions.base import ActionResult, invalid_spec

Model = TypeVar("Model", bound=BaseModel)


def parse_spec(
    model: type[Model], kind: str, spec: Mapping[str, Any], *, validated: Any = None
) -> Model | ActionResult:
    """``spec`` as a ``model``, or a failed ``InvalidAction`` result saying what is wrong.

    ``validated`` is the request's ``action``: when it is already a ``model`` (the
    definition's own, unrendered), it is the answer and ``spec`` is not validated again.
    """
    if isinstance(validated, model):
        return validated
    try:
        return model.model_validate(dict(spec))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or kind}: {error['msg']}"
            for error in exc.errors()
        )
        return invalid_spec(kind, problems)
