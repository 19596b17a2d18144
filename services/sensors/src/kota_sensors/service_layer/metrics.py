"""The sensors service's own instruments (OpenTelemetry; served at /metrics when the process configured metrics,
see kota_common.metrics). Counted once per batch, never per reading: ingest handles tens of thousands a second.

- `kota.sensors.readings` {outcome, reason}: readings a device sent. outcome=accepted (the broker acknowledged
  them: the device is told so), rejected (reason: the validation rule, e.g. out_of_range, duplicate, or
  unauthenticated for a refused batch), failed (accepted but not acknowledged by the broker: the device resends).
- `kota.sensors.alerts` {kind, level}: alerts the evaluator raised: `ALERTS_RAISED.add(n, alert_attributes(kind, level))`.
"""

from __future__ import annotations

from functools import lru_cache

from opentelemetry import metrics

_meter = metrics.get_meter("kota.sensors")

READINGS = _meter.create_counter("kota.sensors.readings", unit="{reading}",
                                 description="readings received, by outcome (accepted, rejected, failed) and reason")
ALERTS_RAISED = _meter.create_counter("kota.sensors.alerts", unit="{alert}", description="alerts raised, by kind and level")

ACCEPTED = {"outcome": "accepted"}
FAILED = {"outcome": "failed", "reason": "not_acknowledged"}


@lru_cache(maxsize=256)
def rejected(reason: str) -> dict[str, str]:
    """The attributes of readings rejected for `reason` (one dict per reason, made once)."""
    return {"outcome": "rejected", "reason": reason}


@lru_cache(maxsize=256)
def alert_attributes(kind: str, level: str) -> dict[str, str]:
    """The attributes of ALERTS_RAISED for an alert kind and level (one dict per pair, made once)."""
    return {"kind": kind, "level": level}
