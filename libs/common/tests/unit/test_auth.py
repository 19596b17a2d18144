"""A gRPC call's staff principal from its `authorization: Bearer` metadata (kota_common.auth), one way for every service."""

from __future__ import annotations

import pytest

from kota_common.auth import issue_token, principal_from_metadata
from kota_common.errors import Unauthenticated

SECRET = "a-test-secret-of-at-least-32-bytes-length"


def bearer(token: str) -> list[tuple[str, str]]:
    return [("user-agent", "test"), ("authorization", f"Bearer {token}")]


def test_a_valid_token_gives_its_agency_and_roles():
    principal = principal_from_metadata(SECRET, bearer(issue_token(SECRET, "uji", "DSDA", ["staff"])))
    assert principal is not None and (principal.subject, principal.agency, principal.roles) == ("uji", "DSDA", {"staff"})


def test_no_token_is_refused_where_one_is_required_and_none_where_it_is_optional():
    with pytest.raises(Unauthenticated, match="a staff bearer token is required"):
        principal_from_metadata(SECRET, [("user-agent", "test")])
    assert principal_from_metadata(SECRET, [("user-agent", "test")], required=False) is None


def test_a_token_signed_with_another_secret_is_refused_even_where_optional():
    forged = issue_token("another-secret-of-at-least-32-bytes-length", "uji", "DSDA", ["admin"])
    with pytest.raises(Unauthenticated, match="invalid bearer token"):
        principal_from_metadata(SECRET, bearer(forged), required=False)
