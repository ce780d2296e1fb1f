"""Inferloop: a self-hosted synthetic data platform built on Prefect flows.

`from inferloop import TabularClient` loads the client (and httpx) on first use only, so importing
`inferloop` for anything else stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferloop.moved_modules import install as _install_old_names

_install_old_names()  # e.g. `from inferloop.client import TabularClient`, `inferloop.constraint_specs`

__version__ = "0.1.0"

# names importable from `inferloop`, loaded from `inferloop_client` when first asked for
_CLIENT_EXPORTS = ("TabularClient", "Job", "Batch", "InferloopAPIError", "AuthenticationError",
                   "PermissionDeniedError", "NotFoundError", "ValidationError", "InvalidFileError",
                   "AlgorithmError", "ConstraintViolationError", "ConflictError", "RateLimitError", "ServerError",
                   "APITimeoutError", "APIConnectionError", "JobFailedError", "JobCancelledError",
                   # image (issue 13)
                   "ImageClient", "ImageJob",
                   # context (issue 14)
                   "ContextClient", "ContextJob",
                   # etl (issue 15)
                   "EtlClient",
                   )

__all__ = ["__version__", *_CLIENT_EXPORTS]

if TYPE_CHECKING:
    from inferloop_client import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name in _CLIENT_EXPORTS:
        import inferloop_client as client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'inferloop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_CLIENT_EXPORTS})
