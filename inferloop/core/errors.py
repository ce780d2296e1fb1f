"""Domain errors carrying the documented error codes."""

from __future__ import annotations

# documented code -> HTTP status (tabular-api.md, "Error Codes")
STATUS_BY_CODE: dict[str, int] = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "INVALID_REQUEST": 400,
    "INVALID_FILE": 400,
    "UNSUPPORTED_FORMAT": 400,
    "INVALID_ALGORITHM": 400,
    "ALGORITHM_ERROR": 400,
    "CONSTRAINT_VIOLATION": 400,
    "RATE_LIMITED": 429,
    "GENERATION_FAILED": 500,
    "TIMEOUT": 504,
}


class InferloopError(Exception):
    """An error with a documented code, a message for people and the field at fault.

    `terminal` tells whether retrying the same input can help (False = transient).
    """

    def __init__(self, code: str, message: str, field: str | None = None, *,
                 status: int | None = None, terminal: bool = True, extra: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status or STATUS_BY_CODE.get(code, 400)
        self.terminal = terminal
        self.extra = extra or {}
        self.headers = headers  # HTTP response headers (e.g. X-RateLimit-* on 429)

    def __reduce__(self):  # picklable across processes (Prefect persists failed states)
        return (_rebuild, (self.code, self.message, self.field, self.status, self.terminal, self.extra,
                           self.headers))

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "InferloopError":
        extra = {k: v for k, v in d.items() if k not in {"code", "message", "field"}}
        return cls(d.get("code", "GENERATION_FAILED"), d.get("message", "generation failed"),
                   d.get("field"), extra=extra)

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"


def _rebuild(code, message, field, status, terminal, extra, headers=None) -> InferloopError:
    return InferloopError(code, message, field, status=status, terminal=terminal, extra=extra, headers=headers)


def invalid_request(message: str, field: str | None = None) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def not_found(what: str, ident: str) -> InferloopError:
    return InferloopError("NOT_FOUND", f"{what} '{ident}' was not found", status=404)
