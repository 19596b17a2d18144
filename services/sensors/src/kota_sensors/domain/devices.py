"""Devices and their credentials. A credential is a random token shown once; only its SHA-256 is stored
(the token has 192 bits of entropy, so a fast hash is enough: there is nothing to brute-force)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from kota_common.standards.siaga import GaugeThresholds
from kota_sensors.domain.validation import KINDS

# Matched with fullmatch (a "$" would let a trailing newline through). Both end up inside the JSON records the
# ingest path formats by hand, so neither may hold a quote, a backslash or a control character.
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
ROUTE_ID = re.compile(r"[A-Za-z0-9_.\-]{0,64}")
ROUTE_ID_RULE = "up to 64 letters, digits, '_', '.', '-'"


def valid_route_id(route_id: str) -> bool:
    """A route id as provisioned with a vehicle or sent with a batch of its positions (empty: the device's)."""
    return ROUTE_ID.fullmatch(route_id) is not None


TOKEN_PREFIX = "kdt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_device(fields: dict) -> list[tuple[str, str]]:
    """Field violations of a device to provision (empty: valid)."""
    v: list[tuple[str, str]] = []
    if not DEVICE_ID.fullmatch(fields.get("id") or ""):
        v.append(("device.id", "1-64 letters, digits, '_', '.', '-', starting with a letter or digit"))
    if not (fields.get("name") or "").strip():
        v.append(("device.name", "required"))
    if fields.get("kind") not in KINDS:
        v.append(("device.kind", f"one of {', '.join(KINDS)}"))
    lat, lon = fields.get("lat"), fields.get("lon")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        v.append(("device.location", "a WGS84 point is required"))
    if not valid_route_id(fields.get("route_id") or ""):
        v.append(("device.route_id", ROUTE_ID_RULE))
    if fields.get("kind") == "water_level":
        t = fields.get("thresholds") or {}
        try:
            GaugeThresholds(t["siaga4_max"], t["siaga3_max"], t["siaga2_max"], t.get("hysteresis_cm", 10.0))
        except KeyError:
            v.append(("device.thresholds", "a gauge needs siaga4_max, siaga3_max and siaga2_max (cm)"))
        except ValueError as exc:
            v.append(("device.thresholds", str(exc)))
    return v


@dataclass(frozen=True)
class DeviceInfo:
    """What the ingest path and the evaluator need of a device, kept in memory."""

    id: str
    name: str
    kind: str
    lat: float | None
    lon: float | None
    kota_code: str
    route_id: str
    token_hash: str | None
    thresholds: dict = field(default_factory=dict)

    def accepts(self, token: str) -> bool:
        return self.token_hash is not None and bool(token) and hmac.compare_digest(self.token_hash, hash_token(token))

    def gauge_thresholds(self) -> GaugeThresholds | None:
        t = self.thresholds
        if self.kind != "water_level" or "siaga2_max" not in t:
            return None
        return GaugeThresholds(t["siaga4_max"], t["siaga3_max"], t["siaga2_max"], t.get("hysteresis_cm", 10.0))
