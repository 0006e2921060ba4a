"""Every error leaves as RFC 9457 application/problem+json with a stable type."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.request_id import current_request_id
from app.errors import DomainError, FieldError, TooManyRequests

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:cachet:problem:"


class ProblemFieldError(BaseModel):
    pointer: str = Field(description="JSON pointer into the request body, or /<parameter>")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details; `code` repeats the last segment of `type`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemFieldError] | None = None
    used_bytes: int | None = None
    limit_bytes: int | None = None
    retry_after_seconds: int | None = Field(
        default=None, description="429 and 503: also in Retry-After"
    )
    blockers: list[dict[str, Any]] | None = Field(
        default=None, description="send refused: every reason the envelope is not ready"
    )
    attempts_left: int | None = Field(
        default=None, description="otp_invalid: tries left on this code (0: ask for a new one)"
    )
    required: int | None = Field(
        default=None, description="insufficient_credits: credits the send needs"
    )
    available: int | None = Field(
        default=None, description="insufficient_credits: credits the tenant has left"
    )
    request_id: str | None = Field(default=None, description="also in the X-Request-ID header")


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
    body.update(extra)
    request_id = current_request_id.get()
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def _problem_headers(exc: DomainError) -> dict[str, str] | None:
    if exc.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after_seconds)}
    return None


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = _problem_headers(exc)
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        errors=getattr(exc, "errors", ()),
        headers=headers,
        **exc.extra,
    )


def _pointer(location: Sequence[int | str]) -> str:
    where, *path = location or ("body",)
    if where != "body":
        path = list(location[1:]) or [where]
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = exc.errors()
    if any(issue.get("type") == "json_invalid" for issue in issues):
        return problem_response(400, "malformed_json", "Malformed JSON", "The body is not JSON.")
    errors = [FieldError(_pointer(i.get("loc", ())), str(i.get("msg", ""))) for i in issues]
    return problem_response(
        422,
        "validation_failed",
        "Validation failed",
        "The request does not match the schema; see errors.",
        errors=errors,
    )


# FastAPI raises this HTTPException when a JSON body cannot even be decoded (e.g. not UTF-8).
_UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        return problem_response(400, "malformed_json", "Malformed JSON", "The body is not JSON.")
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem_response(
        exc.status_code, code, str(exc.detail), str(exc.detail), headers=exc.headers
    )


DATABASE_RETRY_AFTER_SECONDS = 1


def lost_database(exc: Exception) -> bool:
    """A connection that broke under the request (PostgreSQL restarted or failed over; the pool
    does not ping before each use) or that could not be made."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | ConnectionError)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if lost_database(exc):
        log.warning("database connection lost: %s", type(exc).__name__)
        return problem_response(
            503,
            "database_unavailable",
            "Database unavailable",
            "The database connection was lost before the request completed; retry it (with "
            "the same Idempotency-Key, if it had one).",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS,
        )
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        500, "internal_error", "Internal error", "Something went wrong on our side."
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entry declaring the problem statuses a route can answer."""
    return {status: {"model": Problem} for status in statuses}


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Every error response is problem+json; FastAPI's own validation schema never leaves."""
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                # Any body can be unreadable (not JSON, not UTF-8): every such route may say 400;
                # or stop arriving (api/body_guard.py): 408.
                operation["responses"].setdefault("400", {"description": "Bad Request"})
                operation["responses"].setdefault("408", {"description": "Request Timeout"})
            for status, response in operation.get("responses", {}).items():
                if int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
    schemas = spec.get("components", {}).get("schemas", {})
    for internal in ("HTTPValidationError", "ValidationError"):
        schemas.pop(internal, None)
    return spec
