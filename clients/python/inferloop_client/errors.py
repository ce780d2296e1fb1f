"""Typed errors of the Python client: each carries the API's code, message, field and request id."""

from __future__ import annotations

from typing import Any


class InferloopAPIError(Exception):
    """An error answered by the API (or met on the way to it); base of every client error."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 field: str | None = None, request_id: str | None = None, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
        self.request_id = request_id
        self.details = details or {}  # any other keys of the error envelope (e.g. job_id on TIMEOUT)
        self.headers = headers or {}

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.code else self.message]
        if self.field:
            parts.append(f"(field: {self.field})")
        if self.status:
            parts.append(f"[HTTP {self.status}]")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error as the API's envelope has it (for --json output and logs)."""
        out = {"code": self.code, "message": self.message, "status": self.status, "request_id": self.request_id}
        if self.field:
            out["field"] = self.field
        out.update(self.details)
        return out


class AuthenticationError(InferloopAPIError):
    """401 UNAUTHORIZED: missing, unknown, revoked or expired credentials."""


class PermissionDeniedError(InferloopAPIError):
    """403 FORBIDDEN: the caller may not do this."""


class NotFoundError(InferloopAPIError):
    """404 NOT_FOUND: no such resource for this caller."""


class ValidationError(InferloopAPIError):
    """400: the request or its file was refused (INVALID_REQUEST, INVALID_FILE, UNSUPPORTED_FORMAT, ...)."""


class InvalidFileError(ValidationError):
    """400 INVALID_FILE / UNSUPPORTED_FORMAT: the data file could not be used."""


class AlgorithmError(ValidationError):
    """400 INVALID_ALGORITHM / ALGORITHM_ERROR: the algorithm or its parameters were refused."""


class ConstraintViolationError(ValidationError):
    """400 CONSTRAINT_VIOLATION: constraints cannot be met or are invalid."""


class ConflictError(InferloopAPIError):
    """409 CONFLICT: the resource is not in a state for this (model training, job already final, ...)."""


class RateLimitError(InferloopAPIError):
    """429 RATE_LIMITED: a tier limit was reached; `retry_after` is when it resets (seconds)."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers, self.details)


class ServerError(InferloopAPIError):
    """5xx: the server failed (GENERATION_FAILED, ...)."""


class APITimeoutError(InferloopAPIError):
    """504 TIMEOUT, or no answer in time; `job_id` names the job that goes on when the server said so."""

    @property
    def job_id(self) -> str | None:
        return self.details.get("job_id")


class APIConnectionError(InferloopAPIError):
    """The API could not be reached (after the client's retries)."""


class JobFailedError(InferloopAPIError):
    """A job ended failed; `code`/`message` are the job's error, `job` its last status."""

    def __init__(self, message: str, *, job: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.job = job or {}

    @property
    def job_id(self) -> str | None:
        return self.job.get("job_id") or self.job.get("batch_id")


class JobCancelledError(JobFailedError):
    """A job ended cancelled."""


BY_CODE: dict[str, type[InferloopAPIError]] = {
    "UNAUTHORIZED": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "CONFLICT": ConflictError,
    "INVALID_REQUEST": ValidationError,
    "INVALID_FILE": InvalidFileError,
    "UNSUPPORTED_FORMAT": InvalidFileError,
    "INVALID_ALGORITHM": AlgorithmError,
    "ALGORITHM_ERROR": AlgorithmError,
    "CONSTRAINT_VIOLATION": ConstraintViolationError,
    "RATE_LIMITED": RateLimitError,
    "GENERATION_FAILED": ServerError,
    "TIMEOUT": APITimeoutError,
}
BY_STATUS: dict[int, type[InferloopAPIError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 413: InvalidFileError, 415: InvalidFileError, 422: ValidationError,
    429: RateLimitError, 504: APITimeoutError,
}


def error_class(code: str | None, status: int | None) -> type[InferloopAPIError]:
    """The error class for an API code (first) or an HTTP status."""
    if code in BY_CODE:
        return BY_CODE[code]
    if status in BY_STATUS:
        return BY_STATUS[status]
    if status is not None and status >= 500:
        return ServerError
    return InferloopAPIError


def from_response(status: int, body: Any, headers: dict[str, str], fallback_text: str = "") -> InferloopAPIError:
    """The typed error of an HTTP error response (the documented envelope, or whatever came)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {}
    code = err.get("code")
    message = err.get("message") or (fallback_text.strip()[:500] or f"HTTP {status}")
    request_id = err.get("request_id") or headers.get("x-request-id")
    details = {k: v for k, v in err.items() if k not in ("code", "message", "field", "request_id")}
    cls = error_class(code, status)
    return cls(message, code=code or _default_code(status), status=status, field=err.get("field"),
               request_id=request_id, details=details, headers=headers)


def _default_code(status: int) -> str | None:
    return {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITED",
            504: "TIMEOUT"}.get(status, "GENERATION_FAILED" if status >= 500 else None)


def retry_after_seconds(headers: dict[str, str], details: dict[str, Any] | None = None) -> float | None:
    """Seconds to wait before retrying: X-RateLimit-Reset-After, Retry-After, or the error's retry_after."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    for name in ("x-ratelimit-reset-after", "retry-after"):
        value = lowered.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    extra = (details or {}).get("retry_after")
    return float(extra) if isinstance(extra, (int, float)) else None
