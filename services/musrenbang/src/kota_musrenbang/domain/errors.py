"""The refusals of the musrenbang domain. Messages are in Bahasa Indonesia: they reach residents and forum staff
as they are (the gRPC layer maps each class to a status code and passes `field` on as the offending input)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kota_musrenbang.domain.cycle import Level


class DomainError(Exception):
    """A rule of the domain refused the change. `field` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class OutsideStageWindow(DomainError):
    """The action belongs to a stage of the planning cycle that is not open now. `stage` is that stage's level
    (the first of them when the action may happen in several)."""

    def __init__(self, message: str, stage: Level, field: str | None = None):
        super().__init__(message, field)
        self.stage = stage


class NotPermitted(DomainError):
    """Wrong role or wrong area. `needed_roles` and `needed_area` say what the action required."""

    def __init__(self, message: str, needed_roles: tuple[str, ...] = (), needed_area: str = "", field: str | None = None):
        super().__init__(message, field)
        self.needed_roles = needed_roles
        self.needed_area = needed_area


class InvalidTransition(DomainError):
    pass


class SupportLimitReached(DomainError):
    """The resident has used every support this cycle allows."""

    def __init__(self, message: str, limit: int, field: str | None = None):
        super().__init__(message, field)
        self.limit = limit


class InvalidNik(DomainError):
    pass


class SelectionInfeasible(DomainError):
    """The forum's rules (pagu, field minimums, agency ceilings) cannot all be met by any set of proposals."""
