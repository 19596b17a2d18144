"""Which certificates admit a call to the inter-city endpoint, and why the others are refused (the per-call checks
behind the TLS handshake; the handshake itself is proven in the integration tests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kota_collab.adapters.tls import CertificateRefused, PeerIdentity, TlsFiles
from kota_collab.certs import Authority, development_set, save_revocation_list
from kota_collab.domain.credentials import PeerCertificate, Refusal, Refused, admit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def peer(city: str | None = "makassar", serial: int = 7, valid=(NOW - timedelta(days=1), NOW + timedelta(days=1))):
    return PeerCertificate(city, serial, valid[0], valid[1], "CN=makassar,O=Kota")


def refusal(found: PeerCertificate | None, revoked: frozenset[int] = frozenset(), now: datetime = NOW) -> Refusal:
    with pytest.raises(Refused) as refused:
        admit(found, now, revoked)
    return refused.value.reason


def test_a_valid_certificate_admits_the_city_it_names():
    assert admit(peer(), NOW, frozenset({8})) == "makassar"


def test_each_refusal_says_why():
    assert refusal(None) == Refusal.NO_CLIENT_CERTIFICATE
    assert refusal(peer(valid=(NOW - timedelta(days=2), NOW - timedelta(seconds=1)))) == Refusal.CERTIFICATE_EXPIRED
    assert refusal(peer(valid=(NOW + timedelta(hours=1), NOW + timedelta(days=2)))) == Refusal.CERTIFICATE_NOT_YET_VALID
    assert refusal(peer(serial=7), frozenset({7})) == Refusal.CERTIFICATE_REVOKED
    assert refusal(peer(city=None)) == Refusal.NO_CITY_IDENTITY


def test_a_certificate_valid_when_its_connection_opened_is_refused_once_it_has_expired():
    ending = peer(valid=(NOW - timedelta(days=1), NOW + timedelta(seconds=30)))
    assert admit(ending, NOW, frozenset()) == "makassar"
    assert refusal(ending, now=NOW + timedelta(seconds=31)) == Refusal.CERTIFICATE_EXPIRED


def test_a_refusal_names_who_tried_without_key_material():
    with pytest.raises(Refused) as refused:
        admit(peer(city=None), NOW, frozenset())
    assert refused.value.caller == "unidentified (CN=makassar,O=Kota)"
    with pytest.raises(Refused) as refused:
        admit(peer(serial=0xABC), NOW, frozenset({0xABC}))
    assert (refused.value.caller, "serial abc" in refused.value.message) == ("makassar", True)


class FakeContext:
    """The one thing PeerIdentity asks of a call: its TLS auth context."""

    def __init__(self, pem: bytes | None):
        self.pem = pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]} if self.pem else {}


def revoke(directory: Path, *serials: int) -> None:
    save_revocation_list(Authority.load(directory).revocation_list(list(serials)), directory / "crl.pem")


def test_a_revocation_made_after_start_refuses_the_next_call_of_that_certificate(tmp_path):
    development_set(tmp_path, ["jakarta"])
    (tmp_path / "crl.pem").unlink()  # no list yet when the service starts
    makassar = Authority.load(tmp_path).issue("makassar")
    peers = PeerIdentity(TlsFiles.in_directory(tmp_path, "jakarta"), crl_check_s=0)
    call = FakeContext(makassar.cert_pem)
    assert peers.city_of(call) == "makassar"
    revoke(tmp_path, makassar.cert.serial_number)
    with pytest.raises(CertificateRefused) as refused:
        peers.city_of(call)
    assert (refused.value.reason, refused.value.domain, refused.value.caller) == (
        "CERTIFICATE_REVOKED", "federation.kota", "makassar")
    assert refused.value.code.name == "UNAUTHENTICATED"


def test_the_revocation_list_is_looked_at_at_most_once_per_interval(tmp_path):
    development_set(tmp_path, ["jakarta"])
    makassar = Authority.load(tmp_path).issue("makassar")
    peers = PeerIdentity(TlsFiles.in_directory(tmp_path, "jakarta"), crl_check_s=3600)
    assert peers.city_of(FakeContext(makassar.cert_pem)) == "makassar"
    revoke(tmp_path, makassar.cert.serial_number)
    assert peers.city_of(FakeContext(makassar.cert_pem)) == "makassar"  # within the interval: the list read before
    peers.crl_check_s = 0
    with pytest.raises(CertificateRefused):
        peers.city_of(FakeContext(makassar.cert_pem))


def test_a_call_without_a_certificate_and_an_expired_one_are_refused_by_the_clock_in_use(tmp_path):
    development_set(tmp_path, ["jakarta"])
    short = Authority.load(tmp_path).issue("makassar", valid_for=timedelta(minutes=10))
    later = [datetime.now(timezone.utc)]
    peers = PeerIdentity(TlsFiles.in_directory(tmp_path, "jakarta"), clock=lambda: later[0])
    assert peers.city_of(FakeContext(short.cert_pem)) == "makassar"
    later[0] += timedelta(minutes=10)
    with pytest.raises(CertificateRefused) as refused:
        peers.city_of(FakeContext(short.cert_pem))
    assert refused.value.reason == "CERTIFICATE_EXPIRED"
    with pytest.raises(CertificateRefused) as refused:
        peers.city_of(FakeContext(None))
    assert (refused.value.reason, refused.value.caller) == ("NO_CLIENT_CERTIFICATE", "anonymous")
