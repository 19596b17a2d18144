"""Unit of work of the sensors service: the registry and read side, and the consumers' batches (the observation
store's history, the alert evaluator's levels and alerts). Ingest publishes to the broker and writes nothing."""

from __future__ import annotations

from sqlmodel import Session

from kota_common.unit_of_work import SqlUnitOfWork
from kota_sensors.adapters.repository import AlertRepository, DeviceRepository, HistoryRepository, ReadingRepository


class UnitOfWork(SqlUnitOfWork):
    devices: DeviceRepository
    readings: ReadingRepository
    history: HistoryRepository
    alerts: AlertRepository

    def _open(self, session: Session) -> None:
        self.devices = DeviceRepository(session)
        self.readings = ReadingRepository(session)
        self.history = HistoryRepository(session)
        self.alerts = AlertRepository(session)
