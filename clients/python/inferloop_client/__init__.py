"""The Python clients: `TabularClient`, `ImageClient`, `ContextClient`, `EtlClient`, job handles and typed errors."""

__version__ = "0.1.0"  # the version of this distribution (clients/python/pyproject.toml)

from inferloop_client.errors import (AlgorithmError, APIConnectionError, APITimeoutError, AuthenticationError,
                                     ConflictError, ConstraintViolationError, InferloopAPIError, InvalidFileError,
                                     JobCancelledError, JobFailedError, NotFoundError, PermissionDeniedError,
                                     RateLimitError, ServerError, ValidationError)
from inferloop_client.context import ContextClient, ContextJob
from inferloop_client.etl import EtlClient
from inferloop_client.image import ImageClient, ImageJob
from inferloop_client.jobs import Batch, Job
from inferloop_client.tabular import TabularClient

__all__ = ["TabularClient", "Job", "Batch", "InferloopAPIError", "AuthenticationError", "PermissionDeniedError",
           "NotFoundError", "ValidationError", "InvalidFileError", "AlgorithmError", "ConstraintViolationError",
           "ConflictError", "RateLimitError", "ServerError", "APITimeoutError", "APIConnectionError",
           "JobFailedError", "JobCancelledError", "EtlClient", "ContextClient", "ContextJob", "ImageClient", "ImageJob"]
