"""Errors a use case raises; each entrypoint maps them to its protocol (gRPC status, Open311, CKAN)."""

from __future__ import annotations

from collections.abc import Iterable

import grpc


class ServiceError(Exception):
    """Raised by a use case; turned into a gRPC status with details by the servicer."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, violations: Iterable[tuple[str, str]] = (), *, reason: str = "",
                 domain: str = "", metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.violations = list(violations)
        # A machine-readable cause (google.rpc.ErrorInfo): a caller tells "revoked" from "expired" without parsing
        # the message.
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
