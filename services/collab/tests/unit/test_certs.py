"""`kota certs`: a city's identity is its certificate's, and revoking one lands in the CA's signed list."""

from __future__ import annotations

import pytest
from cryptography import x509

from kota_collab.certs import Authority, development_set, identity_of, load_revoked_serials, save_revocation_list


def test_a_city_certificate_names_the_city_and_serves_both_ends(tmp_path):
    cert = Authority.create().issue("makassar").cert
    assert identity_of(cert) == "makassar"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u._name for u in usage} == {"serverAuth", "clientAuth"}
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "makassar.kota.internal" in names.get_values_for_type(x509.DNSName)


def test_the_ca_is_made_once_and_revocations_accumulate(tmp_path):
    development_set(tmp_path, ["jakarta", "bogor", "surabaya"])
    ca_before = (tmp_path / "ca.pem").read_bytes()
    development_set(tmp_path, [], revoke=("bogor",))
    development_set(tmp_path, ["jakarta"], revoke=("surabaya",))
    authority = Authority.load(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    serial = lambda city: x509.load_pem_x509_certificate((tmp_path / f"{city}.pem").read_bytes()).serial_number  # noqa: E731
    assert load_revoked_serials(tmp_path / "crl.pem", authority.cert) == {serial("bogor"), serial("surabaya")}


def test_a_revocation_list_signed_by_another_ca_is_refused(tmp_path):
    development_set(tmp_path, ["jakarta"])
    other = Authority.create()
    save_revocation_list(other.revocation_list([1]), tmp_path / "crl.pem")
    with pytest.raises(ValueError, match="not signed by the configured CA"):
        load_revoked_serials(tmp_path / "crl.pem", Authority.load(tmp_path).cert)
