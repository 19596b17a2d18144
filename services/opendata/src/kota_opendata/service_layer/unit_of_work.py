"""Unit of work of the open data service's catalogue (the event projections run in the event bus's transaction)."""

from __future__ import annotations

from sqlmodel import Session

from kota_common.unit_of_work import SqlUnitOfWork
from kota_opendata.adapters.repository import CatalogRepository


class UnitOfWork(SqlUnitOfWork):
    catalog: CatalogRepository

    def _open(self, session: Session) -> None:
        self.catalog = CatalogRepository(session)
