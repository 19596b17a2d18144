"""Staff bearer tokens: HMAC-signed JWTs carrying the agency and roles (issued by `kota token`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

ISSUER = "kota"


@dataclass(frozen=True)
class Principal:
    subject: str
    agency: str
    roles: frozenset[str]
    # The administrative area the staff member acts for (a Kemendagri code: kelurahan 31.71.01.1001, kecamatan
    # 31.71.01, kota 31.71, or a kelurahan's RW "31.71.01.1001/05"); "" for agency-wide staff.
    area: str = ""

    def is_staff_of(self, agency_code: str) -> bool:
        return "admin" in self.roles or ("staff" in self.roles and self.agency == agency_code)

    @property
    def actor(self) -> str:
        return "admin" if "admin" in self.roles else f"staff:{self.agency}"


class InvalidToken(Exception):
    pass


def issue_token(secret: str, subject: str, agency: str, roles: list[str], ttl: timedelta = timedelta(hours=12),
                *, area: str = "") -> str:
    now = datetime.now(timezone.utc)
    claims = {"iss": ISSUER, "sub": subject, "agency": agency, "roles": roles, "iat": now, "exp": now + ttl}
    if area:
        claims["area"] = area
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return Principal(subject=claims["sub"], agency=claims.get("agency", ""), roles=frozenset(claims.get("roles", [])),
                     area=claims.get("area", ""))


def principal_from_metadata(secret: str, metadata, *, required: bool = True) -> Principal | None:
    """The staff principal of a gRPC call's `authorization: Bearer <token>` metadata. None when the call carries
    no token and none is `required`; UNAUTHENTICATED (google.rpc status) when one is required or invalid."""
    from kota_common.errors import Unauthenticated

    token = bearer_from_metadata(metadata)
    if not token:
        if not required:
            return None
        raise Unauthenticated("a staff bearer token is required (metadata authorization: Bearer ...)")
    try:
        return verify_token(secret, token)
    except InvalidToken as exc:
        raise Unauthenticated(f"invalid bearer token: {exc}") from None


def bearer_from_metadata(metadata) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
    return None
