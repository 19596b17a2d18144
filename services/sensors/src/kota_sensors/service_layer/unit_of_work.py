"""Unit of work of the sensors service's registry and read side (ingest writes in batches of its own)."""

from __future__ import annotations

from sqlmodel import Session

from kota_common.unit_of_work import SqlUnitOfWork
from kota_sensors.adapters.repository import DeviceRepository, ReadingRepository


class UnitOfWork(SqlUnitOfWork):
    devices: DeviceRepository
    readings: ReadingRepository

    def _open(self, session: Session) -> None:
        self.devices = DeviceRepository(session)
        self.readings = ReadingRepository(session)
