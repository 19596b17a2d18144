"""Delivering federated partnerships to partner registries: the federation's outbox, drained with retries and
exponential backoff (with jitter). A delivery is done when the partner confirms it holds the history up to the
step wanted; its answer (its own copy) is merged back, so a step the partner took meanwhile arrives here too.
Sending the same state twice is harmless: the partner's merge ignores what it holds."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from kota_collab.adapters.partners import PartnerUnreachable
from kota_collab.domain.errors import DomainError
from kota_collab.domain.model import City, Partnership
from kota_collab.service_layer.services import Context, MakeUnitOfWork

log = logging.getLogger(__name__)


class PartnerClient(Protocol):
    def sync(self, partner: City, partnership: Partnership, sender: City) -> Partnership:
        """Sends the partnership; returns the partner's copy after the call. PartnerUnreachable on failure."""
        ...


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempts: int) -> float:
        """Full jitter: a random wait up to base * 2^attempts, capped."""
        return random.uniform(self.base_s / 2, min(self.max_s, self.base_s * 2 ** min(attempts, 20)))


def deliver_due(ctx: Context, make_uow: MakeUnitOfWork, client: PartnerClient, backoff: Backoff = Backoff()) -> int:
    """Sends every delivery that is due; returns how many the partners confirmed."""
    with make_uow() as uow:
        due = uow.deliveries.due(ctx.clock())
    confirmed = 0
    for d in due:
        with make_uow() as uow:
            partner = uow.cities.get(d.city_id)
            ours = uow.partnerships.get(d.partnership_id)
        if partner is None or ours is None or not partner.endpoint:
            continue
        try:
            theirs = client.sync(partner, ours, ctx.home)
        except PartnerUnreachable as exc:
            wait = backoff.delay(d.attempts)
            log.warning("partnership %s not delivered to %s (attempt %d): %s; retrying in %.1f s", d.partnership_id,
                        d.city_id, d.attempts + 1, exc, wait)
            with make_uow() as uow:
                uow.deliveries.failed(d.partnership_id, d.city_id, str(exc), ctx.clock() + timedelta(seconds=wait))
                uow.complete()
            continue
        with make_uow() as uow:
            ours = uow.partnerships.get(d.partnership_id)
            assert ours is not None
            try:
                ours.merge(theirs, partner.id)
            except DomainError as exc:
                log.error("partnership %s: %s's copy cannot be merged: %s", ours.id, partner.id, exc.message)
            uow.deliveries.delivered(d.partnership_id, d.city_id, min(len(theirs.history), len(ours.history)))
            uow.complete()
        confirmed += 1
    return confirmed
