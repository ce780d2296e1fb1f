"""The tabular API's error envelope: {"error": {code, message, field?, request_id}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferloop.errors import InferloopError

log = logging.getLogger("inferloop.api")

_HTTP_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "INVALID_REQUEST", 409: "CONFLICT", 413: "INVALID_FILE", 415: "UNSUPPORTED_FORMAT",
               422: "INVALID_REQUEST", 429: "RATE_LIMITED", 504: "TIMEOUT"}


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


def envelope(request: Request, err: InferloopError, headers: dict | None = None) -> JSONResponse:
    body = {"error": {**err.to_dict(), "request_id": request_id(request)}}
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
