"""The Python clients: `TabularClient`, `ImageClient`, `ContextClient`, `EtlClient`, job handles and typed errors."""

from inferloop.client.errors import (AlgorithmError, APIConnectionError, APITimeoutError, AuthenticationError,
                                     ConflictError, ConstraintViolationError, InferloopAPIError, InvalidFileError,
                                     JobCancelledError, JobFailedError, NotFoundError, PermissionDeniedError,
                                     RateLimitError, ServerError, ValidationError)
from inferloop.client.context import ContextClient, ContextJob
from inferloop.client.etl import EtlClient
from inferloop.client.image import ImageClient, ImageJob
from inferloop.client.jobs import Batch, Job
from inferloop.client.tabular import TabularClient

__all__ = ["TabularClient", "Job", "Batch", "InferloopAPIError", "AuthenticationError", "PermissionDeniedError",
           "NotFoundError", "ValidationError", "InvalidFileError", "AlgorithmError", "ConstraintViolationError",
           "ConflictError", "RateLimitError", "ServerError", "APITimeoutError", "APIConnectionError",
           "JobFailedError", "JobCancelledError", "EtlClient", "ContextClient", "ContextJob", "ImageClient", "ImageJob"]
