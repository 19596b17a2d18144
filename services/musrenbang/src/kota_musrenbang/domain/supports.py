"""Residents' supports for proposals (public consultation): who may support what, and how many times.

A resident (known by the keyed hash of their NIK) may support proposals of the kecamatan their NIK was issued in,
each proposal once, and at most `limit_per_cycle` proposals per cycle (Jakarta: 10).

The rules here decide on what the service layer read. That a resident supports a proposal exactly once, even
when two requests race, is the database's guarantee, not this module's: a unique constraint on (proposal id,
resident hash) refuses the second insert, which the service layer reports as `already_supported`. The per-cycle
limit is checked on the count read in the same transaction as the insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kota_musrenbang.domain.errors import DomainError, InvalidTransition, SupportLimitReached
from kota_musrenbang.domain.model import OPEN_FOR_SUPPORT, Proposal


@dataclass(frozen=True)
class SupportPolicy:
    limit_per_cycle: int = 10

    def __post_init__(self) -> None:
        if self.limit_per_cycle < 1:
            raise DomainError("batas dukungan per warga minimal 1", "limit_per_cycle")

    def check_can_support(
        self, proposal: Proposal, resident_kelurahan_ok: bool, supports_used: int, already_supported: bool
    ) -> None:
        """`resident_kelurahan_ok`: the resident's NIK belongs to the proposal's area (nik.nik_matches_kelurahan);
        `supports_used`: supports the resident has given this cycle; `already_supported`: this proposal among them."""
        if proposal.status not in OPEN_FOR_SUPPORT:
            raise InvalidTransition(f"usulan berstatus {proposal.status.value} tidak dapat didukung", "proposal_id")
        if not resident_kelurahan_ok:
            raise DomainError(
                f"dukungan hanya dari warga kecamatan {proposal.location.kecamatan_code} (menurut NIK)", "nik"
            )
        if already_supported:
            raise DomainError("Anda sudah mendukung usulan ini", "proposal_id")
        if supports_used >= self.limit_per_cycle:
            raise SupportLimitReached(
                f"setiap warga dapat mendukung paling banyak {self.limit_per_cycle} usulan per siklus; "
                f"Anda sudah memakai {supports_used}",
                limit=self.limit_per_cycle,
                field="nik",
            )

    def check_can_withdraw(self, proposal: Proposal, has_supported: bool) -> None:
        if proposal.status not in OPEN_FOR_SUPPORT:
            raise InvalidTransition(f"dukungan untuk usulan berstatus {proposal.status.value} tidak dapat ditarik", "proposal_id")
        if not has_supported:
            raise DomainError("Anda belum mendukung usulan ini", "proposal_id")


def check_can_support(
    proposal: Proposal, resident_kelurahan_ok: bool, supports_used: int, already_supported: bool, *, limit: int = 10
) -> None:
    """`SupportPolicy(limit).check_can_support(...)`, for callers that hold the cycle's limit rather than a policy."""
    SupportPolicy(limit).check_can_support(proposal, resident_kelurahan_ok, supports_used, already_supported)


def merge_supports(target_supporters: Iterable[str], source_supporters: Iterable[str]) -> set[str]:
    """Supporters (resident hashes) of two merged proposals: each resident once, whoever supported both.

    A resident who supported both has used two of their supports; merging does not give one back (the support
    stays spent on works they asked for)."""
    return set(target_supporters) | set(source_supporters)
