"""HTTP transport of the client: auth headers, typed errors, bounded retries with backoff.

Retried: 429 (the server did not act) after X-RateLimit-Reset-After / Retry-After when that wait is short
enough; connection failures before the request was sent (any method); and, for idempotent methods only,
read errors, timeouts and 502/503. A POST is never sent twice once the server may have acted on it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from inferloop_client.errors import (APIConnectionError, APITimeoutError, InferloopAPIError, RateLimitError,
                                     from_response, retry_after_seconds)

log = logging.getLogger("inferloop.client")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # the server never saw the request
RETRY_STATUS_IDEMPOTENT = frozenset({502, 503})


@dataclass
class FilePart:
    """One multipart file: `source` is a local path or bytes; opened afresh for every attempt."""

    field: str
    filename: str
    source: Path | bytes
    content_type: str = "application/octet-stream"

    def open(self, stack: contextlib.ExitStack) -> tuple[str, IO[bytes] | bytes, str]:
        body = self.source if isinstance(self.source, bytes) else stack.enter_context(open(self.source, "rb"))
        return self.filename, body, self.content_type


@dataclass
class RetryPolicy:
    """How many times and how long to retry."""

    max_retries: int = 3          # retries after the first attempt
    max_wait: float = 60.0        # a 429 asking for a longer wait is raised at once (RateLimitError)
    backoff: float = 0.5          # first backoff in seconds, doubled every attempt (with jitter)
    backoff_max: float = 8.0

    def delay(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff * (2 ** attempt))
        return base * (0.5 + random.random() / 2)


def looks_like_jwt(credential: str) -> bool:
    parts = credential.split(".")
    return len(parts) == 3 and credential.startswith("eyJ")


class Transport:
    """An httpx.Client bound to the API's base URL and credentials."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, headers: dict[str, str] | None = None,
                 http_client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep):
        from inferloop_client import __version__

        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        auth: dict[str, str] = {}
        if api_key:
            auth = {"Authorization": f"Bearer {api_key}"} if looks_like_jwt(api_key) else {"X-API-Key": api_key}
        self._headers = {"User-Agent": f"inferloop-client/{__version__}", "Accept": "application/json",
                         **auth, **(headers or {})}
        self._owns_client = http_client is None
        self.http = http_client or httpx.Client(timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        if self._owns_client:
            self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                data: dict | None = None, files: list[FilePart] | None = None, timeout: float | None = None,
                headers: dict[str, str] | None = None, stream: bool = False) -> httpx.Response:
        """Send with retries; a response >= 400 raises its typed error. With `stream`, the caller closes it."""
        method = method.upper()
        attempt = 0
        while True:
            try:
                response = self._send(method, path, params, json, data, files, timeout, headers, stream)
            except httpx.TransportError as exc:
                retry = isinstance(exc, NOT_SENT) or method in IDEMPOTENT
                if retry and attempt < self.retry.max_retries:
                    wait = self.retry.delay(attempt)
                    log.warning("%s %s: %s; retrying in %.1f s", method, path, type(exc).__name__, wait)
                    self._sleep(wait)
                    attempt += 1
                    continue
                raise self._transport_error(exc, method, path) from exc
            if response.status_code < 400:
                return response
            error = self._error(response)
            wait = self._retry_wait(method, response.status_code, error, attempt)
            if wait is None:
                raise error
            log.warning("%s %s: HTTP %s (%s); retrying in %.1f s", method, path, response.status_code,
                        error.code, wait)
            self._sleep(wait)
            attempt += 1

    def _send(self, method, path, params, json, data, files, timeout, headers, stream) -> httpx.Response:
        with contextlib.ExitStack() as stack:
            opened = [(p.field, p.open(stack)) for p in files] if files else None
            request = self.http.build_request(
                method, self.url(path), params=_clean(params), json=json, data=_clean(data), files=opened,
                headers={**self._headers, **(headers or {})},
                timeout=self.timeout if timeout is None else timeout)
            return self.http.send(request, stream=stream)

    def _retry_wait(self, method: str, status: int, error: InferloopAPIError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to raise `error` now."""
        if attempt >= self.retry.max_retries:
            return None
        if isinstance(error, RateLimitError):  # 429: nothing was done, any method may be retried
            wait = retry_after_seconds(error.headers, error.details)
            wait = self.retry.delay(attempt) if wait is None else wait
            return wait if wait <= self.retry.max_wait else None
        if method in IDEMPOTENT and status in RETRY_STATUS_IDEMPOTENT:
            wait = retry_after_seconds(error.headers, error.details)
            return min(wait, self.retry.max_wait) if wait is not None else self.retry.delay(attempt)
        return None

    @staticmethod
    def _error(response: httpx.Response) -> InferloopAPIError:
        try:
            response.read()
            body = response.json()
        except Exception:
            body = None
        finally:
            response.close()
        text = ""
        with contextlib.suppress(Exception):
            text = response.text
        return from_response(response.status_code, body, dict(response.headers), text)

    def _transport_error(self, exc: httpx.TransportError, method: str, path: str) -> InferloopAPIError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"no answer from {self.url(path)} in time ({type(exc).__name__}); for long "
                                   "work use the async methods or a larger timeout", code="TIMEOUT")
        return APIConnectionError(f"could not reach the API at {self.base_url} ({method} {path}): {exc}",
                                  code="CONNECTION_ERROR")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The parsed JSON of a successful response."""
        response = self.request(method, path, **kwargs)
        return response.json()

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response, closed on exit."""
        response = self.request(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()


def _clean(values: dict | None) -> dict | None:
    """Drop None values (the API's defaults apply); booleans as lowercase text for forms and queries."""
    if values is None:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in values.items() if v is not None}
