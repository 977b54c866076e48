"""The API's errors: one JSON shape with a stable code, documented on every endpoint."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "invalid input (invalid_input, invalid_request)"),
        (401, "no valid token, or a bad webhook signature (unauthorized)"),
        (403, "the token's role may not do this (forbidden)"),
        (404, "unknown, or in a project the token does not see (not_found)"),
        (409, "the record is not in a state that allows this (conflict)"),
        (413, "body over the size limit (too_large)"),
        (422, "a body or query that does not fit the schema (invalid_request, invalid_params)"),
        (429, "over the token's rate limit (rate_limited), see Retry-After"),
        (503, "the store cannot answer (store_unavailable, migration_required, store_error)"),
    ]
}
"""Every error an endpoint may answer with, for the OpenAPI schema."""


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON error every failure answers with: a stable code, a message, the field."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status, headers=headers)
