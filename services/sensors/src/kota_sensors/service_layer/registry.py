"""Registry use cases: provision, issue and revoke credentials, seed. Each change reloads the ingest cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kota_common.auth import Principal
from kota_common.clock import now_utc
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kota_sensors.adapters.orm import DeviceRow
from kota_sensors.domain.devices import hash_token, new_token, validate_device
from kota_sensors.service_layer.unit_of_work import UnitOfWork

DEVICE_FIELDS = ("id", "name", "kind", "lat", "lon", "location_description", "owner_agency", "kota_code",
                 "sensor_model", "route_id")


class Registry:
    def __init__(self, make_uow: Callable[[], UnitOfWork], on_change: Callable[[], None]):
        self.make_uow = make_uow
        self.on_change = on_change

    def seed(self, devices: list[dict]) -> int:
        """Registers the devices that are not there yet (without credentials: issue them when installing)."""
        added = 0
        with self.make_uow() as uow:
            existing = uow.devices.ids()
            for d in devices:
                if d["id"] in existing:
                    continue
                uow.devices.add(DeviceRow(**{k: d.get(k, "") for k in DEVICE_FIELDS},
                                          thresholds=json.dumps(d.get("thresholds", {})), created_at=now_utc()))
                added += 1
            uow.complete()
        if added:
            self.on_change()
        return added

    def provision(self, principal: Principal, fields: dict) -> tuple[DeviceRow, str]:
        violations = validate_device(fields)
        if violations:
            raise InvalidArgument("invalid device", violations)
        if not principal.is_staff_of(fields.get("owner_agency") or ""):
            raise PermissionDenied("only staff of the owner agency or an admin may provision its devices")
        token = new_token()
        with self.make_uow() as uow:
            if uow.devices.get(fields["id"]) is not None:
                raise FailedPrecondition(f"device {fields['id']} already exists; use IssueDeviceCredential")
            # Validated above (validate_device); a field not given is empty.
            given: dict[str, Any] = {k: fields.get(k) if fields.get(k) is not None else "" for k in DEVICE_FIELDS}
            row = DeviceRow(**given,
                            thresholds=json.dumps(fields.get("thresholds") or {}), token_hash=hash_token(token),
                            token_issued_at=now_utc(), created_at=now_utc())
            uow.devices.add(row)
            uow.complete()
        self.on_change()
        return row, token

    def _change(self, principal: Principal, device_id: str, apply: Callable[[DeviceRow], None]) -> DeviceRow:
        with self.make_uow() as uow:
            row = uow.devices.get(device_id)
            if row is None:
                raise NotFound(f"no device {device_id!r}")
            if not principal.is_staff_of(row.owner_agency):
                raise PermissionDenied("only staff of the owner agency or an admin may manage this device")
            apply(row)
            uow.complete()
        self.on_change()
        return row

    def issue_credential(self, principal: Principal, device_id: str) -> tuple[DeviceRow, str]:
        token = new_token()

        def apply(row: DeviceRow) -> None:
            row.token_hash, row.token_issued_at, row.revoked_at = hash_token(token), now_utc(), None

        return self._change(principal, device_id, apply), token

    def revoke_credential(self, principal: Principal, device_id: str) -> DeviceRow:
        def apply(row: DeviceRow) -> None:
            row.revoked_at = now_utc()

        return self._change(principal, device_id, apply)
