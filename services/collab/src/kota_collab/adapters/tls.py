"""Mutual TLS for the inter-city endpoint: the credentials of its server and of its calls to partners, and the
calling city's identity from the certificate it presented.

The TLS handshake itself refuses a client without a certificate, with one from another CA, or with one that has
expired (gRPC core checks the chain and its dates; the caller sees UNAVAILABLE and this server logs the reason).
What the handshake cannot know is checked per call here: the certificate's serial against the CA's revocation
list (re-read when the file changes), and the city it names."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import grpc
from cryptography import x509

from kota_collab.certs import host_name, identity_of, load_revoked_serials
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
        crl = directory / "crl.pem"
        return cls(directory / "ca.pem", directory / f"{city_id}.pem", directory / f"{city_id}-key.pem",
                   crl if crl.exists() else None)

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


class PeerIdentity:
    """The calling city of a call on the mutual-TLS port, or Unauthenticated saying why not."""

    def __init__(self, files: TlsFiles):
        self.files = files
        self._authority = x509.load_pem_x509_certificate(files.ca.read_bytes())
        self._lock = threading.Lock()
        self._crl_mtime: float | None = None
        self._revoked: frozenset[int] = frozenset()

    def revoked(self) -> frozenset[int]:
        crl = self.files.crl
        if crl is None or not crl.exists():
            return frozenset()
        mtime = os.stat(crl).st_mtime
        with self._lock:
            if mtime != self._crl_mtime:
                self._revoked = load_revoked_serials(crl, self._authority)
                self._crl_mtime = mtime
                log.info("revocation list %s: %d certificate(s) revoked", crl, len(self._revoked))
            return self._revoked

    def city_of(self, context: grpc.ServicerContext) -> str:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            raise Unauthenticated("no client certificate: the inter-city endpoint needs mutual TLS",
                                  [("certificate", "missing")])
        cert = x509.load_pem_x509_certificate(pems[0])
        now = datetime.now(timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise Unauthenticated(f"the client certificate is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} "
                                  f"to {cert.not_valid_after_utc:%Y-%m-%d})", [("certificate", "expired")])
        city = identity_of(cert)
        if city is None:
            raise Unauthenticated("the client certificate names no city (subjectAltName spiffe://kota.federation/city/<id>)",
                                  [("certificate", "no city identity")])
        if cert.serial_number in self.revoked():
            raise Unauthenticated(f"the certificate of {city} (serial {cert.serial_number:x}) has been revoked",
                                  [("certificate", "revoked")])
        return city
