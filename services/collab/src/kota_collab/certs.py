"""The federation's certificates (`kota certs`, and the tests): a development CA, one certificate per city, and the
CA's revocation list, with `cryptography`.

A city's identity is a URI in its certificate's subjectAltName, `spiffe://kota.federation/city/<city id>` (SPIFFE's
form of a workload identity, which TLS stacks carry untouched). The same certificate serves the city's inter-city
endpoint and its calls to partners (serverAuth and clientAuth); its DNS names `<city id>.kota.internal` and
`localhost` and the address 127.0.0.1 let a partner check that it reached the city it meant to (the client sets
the TLS target name to `<city id>.kota.internal`)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IDENTITY_PREFIX = "spiffe://kota.federation/city/"
CITY_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def host_name(city_id: str) -> str:
    """The DNS name a partner expects in the city's server certificate."""
    return f"{city_id}.kota.internal"


def identity_of(cert: x509.Certificate) -> str | None:
    """The city id a certificate names in its subjectAltName, or None."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(IDENTITY_PREFIX):
            return uri.removeprefix(IDENTITY_PREFIX)
    return None


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "Kota federation development CA", days: int = 3650) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kota"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, directory: Path) -> Authority:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca-key.pem'} is not an EC key made by `kota certs`")
        return cls(cert, key)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes(_pem(self.cert))
        key_path = directory / "ca-key.pem"
        key_path.write_bytes(_key_pem(self.key))
        key_path.chmod(0o600)

    def issue(self, city_id: str, *, days: int = 825, not_before: datetime | None = None,
              valid_for: timedelta | None = None) -> CityCertificate:
        """A city's certificate, valid from `not_before` (now) for `days`, or `valid_for` when given (a short span
        makes one that expires while a test holds a connection open)."""
        if not CITY_ID.match(city_id):
            raise ValueError(f"a city id is 2-40 lowercase letters, digits and hyphens, starting with a letter: {city_id!r}")
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or datetime.now(timezone.utc) - timedelta(minutes=5)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kota"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, city_id)]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + (valid_for or timedelta(days=days)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier(IDENTITY_PREFIX + city_id), x509.DNSName(host_name(city_id)),
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return CityCertificate(city_id, cert, key)

    def revocation_list(self, serials: list[int], *, days: int = 30) -> x509.CertificateRevocationList:
        now = datetime.now(timezone.utc)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject).last_update(now)
                   .next_update(now + timedelta(days=days)))
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        return builder.sign(self.key, hashes.SHA256())


@dataclass(frozen=True)
class CityCertificate:
    city_id: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def save(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{self.city_id}.pem", directory / f"{self.city_id}-key.pem"
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def save_revocation_list(crl: x509.CertificateRevocationList, path: Path) -> None:
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def load_revoked_serials(path: Path, authority: x509.Certificate) -> frozenset[int]:
    """The serials a CRL (PEM) revokes, once its signature is checked against the CA; ValueError otherwise."""
    crl = x509.load_pem_x509_crl(path.read_bytes())
    if not crl.is_signature_valid(authority.public_key()):  # type: ignore[arg-type]
        raise ValueError(f"{path}: the revocation list is not signed by the configured CA")
    return frozenset(r.serial_number for r in crl)


def development_set(directory: Path, cities: list[str], *, days: int = 825, reissue: bool = False,
                    revoke: tuple[str, ...] = ()) -> list[str]:
    """What `kota certs` does: the CA in `directory` (made once), a certificate for each city that has none (or a new
    one with `reissue`), the current certificates of the `revoke` cities added to the revocation list, and that
    list (crl.pem) written. Returns what it did, line by line."""
    done = []
    if (directory / "ca.pem").exists():
        authority = Authority.load(directory)
    else:
        authority = Authority.create()
        authority.save(directory)
        done.append(f"made a development CA: {directory / 'ca.pem'}")
    for city in cities:
        if reissue or not (directory / f"{city}.pem").exists():
            cert_path, key_path = authority.issue(city, days=days).save(directory)
            done.append(f"issued {city}: {cert_path} and {key_path} (identity {IDENTITY_PREFIX}{city}, "
                        f"host {host_name(city)}, {days} days)")
    crl_path = directory / "crl.pem"
    revoked = set(load_revoked_serials(crl_path, authority.cert)) if crl_path.exists() else set()
    for city in revoke:
        cert_path = directory / f"{city}.pem"
        if not cert_path.exists():
            raise FileNotFoundError(f"no certificate of {city} in {directory} to revoke")
        serial = x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number
        revoked.add(serial)
        done.append(f"revoked {city}'s certificate (serial {serial:x})")
    save_revocation_list(authority.revocation_list(sorted(revoked)), crl_path)
    done.append(f"revocation list: {crl_path} ({len(revoked)} revoked)")
    return done
