"""The Python client of the Tabular API: `TabularClient`, job handles and typed errors."""

from inferloop.client.errors import (AlgorithmError, APIConnectionError, APITimeoutError, AuthenticationError,
                                     ConflictError, ConstraintViolationError, InferloopAPIError, InvalidFileError,
                                     JobCancelledError, JobFailedError, NotFoundError, PermissionDeniedError,
                                     RateLimitError, ServerError, ValidationError)
from inferloop.client.jobs import Batch, Job
from inferloop.client.tabular import TabularClient
from inferloop.client.image import ImageClient, ImageJob  # image (issue 13)

__all__ = ["TabularClient", "Job", "Batch", "InferloopAPIError", "AuthenticationError", "PermissionDeniedError",
           "NotFoundError", "ValidationError", "InvalidFileError", "AlgorithmError", "ConstraintViolationError",
           "ConflictError", "RateLimitError", "ServerError", "APITimeoutError", "APIConnectionError",
           "JobFailedError", "JobCancelledError",
           "ImageClient", "ImageJob"]  # image (issue 13)
