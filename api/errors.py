"""Error envelopes. Each documented API keeps its own (spec README): one renderer per API, chosen by route.

- tabular / SynthGen: {"error": {code, message, field?, request_id}}
- image (image-api.md): {"error": {code, message, details: {parameter, value?, constraint?}, request_id}}
- context (context-api.md): {"detail", "error_code", "status_code", "field"?, "request_id"}
- etl (etl-api.md): {"error": {code, message, details: [{field, error}], request_id}}

Routers raise `InferloopError` with the platform's codes (or their own API's); the renderer of the API the
route belongs to maps the platform codes onto that document's codes. A route's API is that of its endpoint's
module (MODULE_STYLES); an unknown path under /api/v1 answers in the ETL document's generic shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferloop.core.errors import InferloopError

log = logging.getLogger("inferloop.api")

_HTTP_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "INVALID_REQUEST", 409: "CONFLICT", 413: "INVALID_FILE", 415: "UNSUPPORTED_FORMAT",
               422: "INVALID_REQUEST", 429: "RATE_LIMITED", 504: "TIMEOUT"}

_BAD_INPUT = ("INVALID_REQUEST", "INVALID_FILE", "UNSUPPORTED_FORMAT", "INVALID_ALGORITHM", "CONSTRAINT_VIOLATION")

# platform code -> the code each document names for it (codes not listed pass through unchanged)
IMAGE_CODES = {**{c: "INVALID_PARAMETERS" for c in _BAD_INPUT}, "GENERATION_FAILED": "INTERNAL_ERROR"}
CONTEXT_CODES = {**{c: "VALIDATION_ERROR" for c in _BAD_INPUT}, "GENERATION_FAILED": "INTERNAL_ERROR"}
ETL_CODES = {**{c: "VALIDATION_ERROR" for c in _BAD_INPUT}, "UNAUTHORIZED": "AUTHENTICATION_REQUIRED",
             "FORBIDDEN": "PERMISSION_DENIED", "NOT_FOUND": "RESOURCE_NOT_FOUND",
             "RATE_LIMITED": "RATE_LIMIT_EXCEEDED", "GENERATION_FAILED": "INTERNAL_ERROR"}


def _code(table: dict[str, str], err: InferloopError) -> str:
    """The document's name for the error's code; a server-side failure (5xx) is never reported as bad input."""
    if err.status >= 500 and err.code in _BAD_INPUT:
        return "INTERNAL_ERROR"
    return table.get(err.code, err.code)


def context_code(err: InferloopError) -> str:
    """context-api.md's code (job details and webhooks under /api/v1 too)."""
    return _code(CONTEXT_CODES, err)


def _tabular(err: InferloopError, rid: str) -> dict:
    return {"error": {**err.to_dict(), "request_id": rid}}


def image_error(err: InferloopError) -> dict:
    """image-api.md's error object {code, message, details} (REST envelope and WebSocket error messages)."""
    extra = dict(err.extra)
    details = extra.pop("details", None)
    if details is None:  # a platform error (e.g. a tier limit): its fields are the details
        details = {**({"parameter": err.field} if err.field else {}), **extra}
        extra = {}
    return {"code": _code(IMAGE_CODES, err), "message": err.message, "details": details, **extra}


def _image(err: InferloopError, rid: str) -> dict:
    return {"error": {**image_error(err), "request_id": rid}}


def _context(err: InferloopError, rid: str) -> dict:
    body = {"detail": err.message, "error_code": context_code(err), "status_code": err.status}
    if err.field:
        body["field"] = err.field
    return {**body, **err.extra, "request_id": rid}


def _etl(err: InferloopError, rid: str) -> dict:
    extra = dict(err.extra)
    details = extra.pop("details", None)
    if details is None:
        details = [{"field": err.field, "error": err.message}] if err.field else []
    return {"error": {"code": _code(ETL_CODES, err), "message": err.message, "details": details,
                      **extra, "request_id": rid}}


RENDERERS: dict[str, Callable[[InferloopError, str], dict]] = {
    "tabular": _tabular, "image": _image, "context": _context, "etl": _etl}

# router package or module -> the API whose envelope its routes answer in
MODULE_STYLES: dict[str, str] = {"api.image": "image", "api.context": "context", "api.v1_jobs": "context",
                                 "api.etl": "etl"}
V1_PREFIX = "/api/v1"


def style_of_module(module: str) -> str | None:
    for prefix, style in MODULE_STYLES.items():
        if module == prefix or module.startswith(prefix + "."):
            return style
    return None


def style_for(request: Request) -> str:
    """The API of the route that answers this request (its endpoint's module), else by path."""
    endpoint = request.scope.get("endpoint")
    style = style_of_module(getattr(endpoint, "__module__", "") or "") if endpoint is not None else None
    if style:
        return style
    if request.url.path.startswith(V1_PREFIX + "/") or request.url.path == V1_PREFIX:
        return "etl"
    return "tabular"


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


def envelope(request: Request, err: InferloopError, headers: dict | None = None) -> JSONResponse:
    body = RENDERERS[style_for(request)](err, request_id(request))
    return JSONResponse(body, status_code=err.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InferloopError)
    async def _domain(request: Request, exc: InferloopError):
        return envelope(request, exc, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        field = ".".join(loc) or None
        msg = first.get("msg", "invalid request")
        return envelope(request, InferloopError("INVALID_REQUEST", f"{field}: {msg}" if field else msg, field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "INVALID_REQUEST")
        return envelope(request, InferloopError(code, str(exc.detail), status=exc.status_code),
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(request, InferloopError("GENERATION_FAILED", "internal error; see server logs",
                                                status=500))
