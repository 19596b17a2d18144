"""What a call to a service can fail with, free of gRPC: the use cases and every HTTP API see these two.

ServiceUnavailable: the service is down, too slow or not configured (each API answers 503 in its format).
RpcFailure: the service answered with an error; `code` says which kind, `violations` carries its
google.rpc BadRequest field violations, if any. The translation from gRPC lives in adapters/backends.py alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ServiceUnavailable(Exception):
    def __init__(self, service: str, detail: str):
        super().__init__(f"the {service} service is unavailable: {detail}")
        self.service = service
        self.detail = detail


class FailureCode(enum.Enum):
    """The error statuses a service answers with (gRPC's names, so logs read the same on both sides)."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    OUT_OF_RANGE = "out_of_range"
    INTERNAL = "internal"  # and every other status: the service failed, the client cannot fix it


@dataclass
class RpcFailure(Exception):
    service: str
    code: FailureCode
    message: str
    violations: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message
