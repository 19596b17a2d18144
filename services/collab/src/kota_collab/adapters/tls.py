"""Mutual TLS for the inter-city endpoint: the credentials of its server and of its calls to partners, and the
calling city's identity from the certificate it presented.

The TLS handshake itself refuses a client without a certificate, with one from another CA, or with one that has
expired (gRPC core checks the chain and its dates; the caller sees UNAVAILABLE and this server logs the reason).
gRPC's Python API cannot do otherwise: its server credentials either require and verify a client certificate or
never ask for one (no "optional" mode, no verification callback), so those three are refused before any code of
ours runs. What the handshake cannot know, or what changes while a connection stays open, is checked per call
here (domain.credentials.admit): the certificate's dates now, its serial against the CA's revocation list
(re-read when the file changes), and the city it names; a refusal is UNAUTHENTICATED with a google.rpc.ErrorInfo
whose reason says why."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import grpc
from cryptography import x509

from kota_collab.certs import host_name, identity_of, load_revoked_serials
from kota_collab.domain.credentials import DOMAIN, PeerCertificate, Refused, admit
from kota_common.errors import Unauthenticated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    crl: Path | None = None

    @classmethod
    def in_directory(cls, directory: Path, city_id: str) -> TlsFiles:
        # The list is looked for even if there is none yet: the first `kota certs --revoke` makes it.
        return cls(directory / "ca.pem", directory / f"{city_id}.pem", directory / f"{city_id}-key.pem",
                   directory / "crl.pem")

    def present(self) -> bool:
        return self.ca.exists() and self.cert.exists() and self.key.exists()

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key.read_bytes(), self.cert.read_bytes())],
                                           root_certificates=self.ca.read_bytes(), require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca.read_bytes(), self.key.read_bytes(), self.cert.read_bytes())


def channel_options(city_id: str) -> list[tuple[str, str]]:
    """The partner must present the certificate of the city we mean to call."""
    return [("grpc.ssl_target_name_override", host_name(city_id))]


class CertificateRefused(Unauthenticated):
    """A call refused for its certificate: UNAUTHENTICATED with a google.rpc.ErrorInfo naming the reason."""

    def __init__(self, refused: Refused):
        super().__init__(refused.message, reason=refused.reason.value, domain=DOMAIN,
                         metadata={"caller": refused.caller})
        self.refusal = refused.reason
        self.caller = refused.caller


class PeerIdentity:
    """The calling city of a call on the mutual-TLS port, or CertificateRefused saying why not.

    Cheap enough for every call and for an open stream's periodic re-check: a presented certificate is parsed once
    (cached by its bytes: one per connection), and the revocation list's file is looked at no more often than
    `crl_check_s` (re-read when it changed)."""

    def __init__(self, files: TlsFiles, crl_check_s: float = 1.0, clock: Callable[[], datetime] | None = None):
        self.files = files
        self.crl_check_s = crl_check_s
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._authority = x509.load_pem_x509_certificate(files.ca.read_bytes())
        self._lock = threading.Lock()
        self._crl_mtime: float | None = None
        self._crl_looked = -float("inf")
        self._revoked: frozenset[int] = frozenset()
        self._parsed: dict[bytes, PeerCertificate] = {}

    def revoked(self) -> frozenset[int]:
        crl = self.files.crl
        if crl is None:
            return frozenset()
        with self._lock:
            if time.monotonic() - self._crl_looked < self.crl_check_s:
                return self._revoked
            self._crl_looked = time.monotonic()
            try:
                mtime = os.stat(crl).st_mtime_ns
            except FileNotFoundError:
                return self._revoked  # a list being replaced: keep the last one read, never forget a revocation
            if mtime != self._crl_mtime:
                self._revoked = load_revoked_serials(crl, self._authority)
                self._crl_mtime = mtime
                log.info("revocation list %s: %d certificate(s) revoked", crl, len(self._revoked))
            return self._revoked

    def peer_of(self, context: grpc.ServicerContext) -> PeerCertificate | None:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            return None
        pem = pems[0]
        peer = self._parsed.get(pem)
        if peer is None:
            cert = x509.load_pem_x509_certificate(pem)
            peer = PeerCertificate(identity_of(cert), cert.serial_number, cert.not_valid_before_utc,
                                   cert.not_valid_after_utc, cert.subject.rfc4514_string())
            with self._lock:
                if len(self._parsed) > 1024:  # certificates of connections long gone
                    self._parsed.clear()
                self._parsed[pem] = peer
        return peer

    def city_of(self, context: grpc.ServicerContext) -> str:
        try:
            return admit(self.peer_of(context), self.clock(), self.revoked())
        except Refused as refused:
            raise CertificateRefused(refused) from None
