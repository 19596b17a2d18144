"""Whether a calling city's certificate admits its call to the inter-city endpoint, and if not, why.

The TLS handshake has already checked the chain to the configured CA and the dates at the moment it connected;
this is what it cannot know or what changes while a connection stays open: the clock moves past the certificate's
end, the CA revokes it, the certificate names no city or one this registry does not know. Plain values in, one
answer out, so that the rules read (and are tested) without TLS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DOMAIN = "federation.kota"  # the google.rpc.ErrorInfo domain of the refusals


class Refusal(StrEnum):
    """Why a call was refused: the ErrorInfo reason the caller receives, and the start of the audit record."""

    NO_CLIENT_CERTIFICATE = "NO_CLIENT_CERTIFICATE"
    CERTIFICATE_NOT_YET_VALID = "CERTIFICATE_NOT_YET_VALID"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    NO_CITY_IDENTITY = "NO_CITY_IDENTITY"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    UNKNOWN_CITY = "UNKNOWN_CITY"


@dataclass(frozen=True)
class PeerCertificate:
    """What the admission rules need of a presented certificate (no key material)."""

    city_id: str | None  # the city its subjectAltName names
    serial: int
    not_before: datetime
    not_after: datetime
    subject: str  # who tried, for the audit record when it names no city

    @property
    def caller(self) -> str:
        return self.city_id or f"unidentified ({self.subject})"


class Refused(Exception):
    def __init__(self, reason: Refusal, caller: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.caller = caller
        self.message = message


def admit(peer: PeerCertificate | None, now: datetime, revoked: frozenset[int]) -> str:
    """The city the certificate names, or Refused saying why it does not admit a call now."""
    if peer is None:
        raise Refused(Refusal.NO_CLIENT_CERTIFICATE, "anonymous",
                      "no client certificate: the inter-city endpoint needs mutual TLS")
    if now < peer.not_before:
        raise Refused(Refusal.CERTIFICATE_NOT_YET_VALID, peer.caller,
                      f"the client certificate is valid only from {peer.not_before:%Y-%m-%d %H:%M:%S}Z")
    if now > peer.not_after:
        raise Refused(Refusal.CERTIFICATE_EXPIRED, peer.caller,
                      f"the client certificate expired at {peer.not_after:%Y-%m-%d %H:%M:%S}Z: ask the federation's CA "
                      "for a new one")
    if peer.serial in revoked:
        raise Refused(Refusal.CERTIFICATE_REVOKED, peer.caller,
                      f"the client certificate of {peer.caller} (serial {peer.serial:x}) has been revoked by the CA")
    if peer.city_id is None:
        raise Refused(Refusal.NO_CITY_IDENTITY, peer.caller,
                      "the client certificate names no city (subjectAltName spiffe://kota.federation/city/<id>)")
    return peer.city_id
