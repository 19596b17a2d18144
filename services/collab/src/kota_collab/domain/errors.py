"""The collaboration domain's refusals. `field` names the offending input; the service layer maps each class to a
status (InvalidTransition and HistoriesDiverge: FAILED_PRECONDITION; NotPermitted and NotGranted:
PERMISSION_DENIED; any other: INVALID_ARGUMENT)."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(DomainError):
    """The lifecycle forbids the step from the partnership's (or agreement's) current state."""


class NotPermitted(DomainError):
    """The city (or staff) asking may not take this step."""


class NotGranted(DomainError):
    """No agreement in force grants the partner what it asked for; `field` names the missing grant."""


class HistoriesDiverge(DomainError):
    """Two registries recorded different steps at the same place of a partnership's history."""
