"""The catalogue's rows: datasets, their versions, organizations and groups; a dataset's records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Table, delete
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from kota_common.eventbus import ProcessedEvent
from kota_opendata.adapters import catalog_search, datastore
from kota_opendata.adapters.orm import DatasetActivityRow, DatasetRow, DatasetVersionRow, GroupRow, OrganizationRow
from kota_opendata.domain.search_query import SearchPlan


class CatalogRepository:
    def __init__(self, session: Session):
        self.session = session

    def datasets(self) -> list[DatasetRow]:
        return list(self.session.exec(select(DatasetRow)).all())

    def dataset(self, dataset_id: str) -> DatasetRow | None:
        return self.session.get(DatasetRow, dataset_id)

    def dataset_named(self, name: str) -> DatasetRow | None:
        return self.session.exec(select(DatasetRow).where(DatasetRow.name == name)).first()

    def search(self, plan: SearchPlan) -> tuple[int, list[DatasetRow], dict[str, list[tuple[str, int]]]]:
        """(number of matches, the page's datasets in the plan's order, facet counts): all in SQL."""
        conn = self.session.connection()
        count, ids = catalog_search.page_ids(conn, plan)
        rows = {d.id: d for d in self.session.exec(select(DatasetRow).where(col(DatasetRow.id).in_(ids))).all()} if ids else {}
        return count, [rows[i] for i in ids if i in rows], catalog_search.facets(conn, plan)

    def autocomplete(self, text: str, limit: int) -> list[tuple[str, str, str]]:
        return catalog_search.autocomplete(self.session.connection(), text, limit)

    def dataset_names(self) -> list[str]:
        return list(self.session.exec(select(DatasetRow.name)).all())

    def tag_lists(self) -> list[str]:
        """Each dataset's tags, as the JSON list it stores."""
        return list(self.session.exec(select(DatasetRow.tags)).all())

    def with_pending_changes(self) -> list[DatasetRow]:
        """Live datasets with changes not announced yet."""
        return list(self.session.exec(select(DatasetRow).where(col(DatasetRow.pending_changes) > 0)).all())

    def forget_events_before(self, cutoff: datetime) -> int:
        """Deletes the event ids processed before `cutoff`; how many."""
        removed = self.session.exec(delete(ProcessedEvent).where(col(ProcessedEvent.processed_at) < cutoff)).rowcount
        return removed or 0

    def dataset_states(self) -> list[tuple[str, str, int, int, datetime]]:
        """(id, name, version, record count, modified) of every dataset."""
        stmt = core_select(col(DatasetRow.id), col(DatasetRow.name), col(DatasetRow.version), col(DatasetRow.record_count),
                           col(DatasetRow.metadata_modified))  # five columns: more than sqlmodel's select is typed for
        return [tuple(r) for r in self.session.execute(stmt).all()]

    def organizations(self) -> dict[str, OrganizationRow]:
        return {o.name: o for o in self.session.exec(select(OrganizationRow)).all()}

    def organization(self, code: str) -> OrganizationRow | None:
        return self.session.get(OrganizationRow, code)

    def groups(self) -> dict[str, GroupRow]:
        return {g.name: g for g in self.session.exec(select(GroupRow)).all()}

    def group(self, name: str) -> GroupRow | None:
        return self.session.get(GroupRow, name)

    def versions_of(self, dataset_ids: Iterable[str]) -> dict[str, list[DatasetVersionRow]]:
        """The datasets' versions by dataset id, each list by number: one query for a page of datasets."""
        ids = list(dataset_ids)
        out: dict[str, list[DatasetVersionRow]] = {i: [] for i in ids}
        if ids:
            stmt = (select(DatasetVersionRow).where(col(DatasetVersionRow.dataset_id).in_(ids))
                    .order_by(col(DatasetVersionRow.dataset_id), col(DatasetVersionRow.number)))
            for v in self.session.exec(stmt).all():
                out[v.dataset_id].append(v)
        return out

    def version(self, dataset_id: str, number: int) -> DatasetVersionRow | None:
        return self.session.get(DatasetVersionRow, (dataset_id, number))

    def add(self, row) -> None:
        self.session.add(row)

    def records(self, table: Table, query: datastore.Query) -> tuple[list[dict], int]:
        return datastore.search(self.session.connection(), table, query)

    def activity(self, dataset_id: str, offset: int, limit: int) -> list[DatasetActivityRow]:
        """The dataset's activity, newest first."""
        stmt = (select(DatasetActivityRow).where(DatasetActivityRow.dataset_id == dataset_id)
                .order_by(col(DatasetActivityRow.at).desc(), col(DatasetActivityRow.id)).offset(offset).limit(limit))
        return list(self.session.exec(stmt).all())

    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.session.get_bind().dialect.name

    def run_sql(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[tuple], bool]:
        """A checked SELECT (domain.sql_check), read-only and bounded: see datastore.run_sql. First in its unit of work."""
        return datastore.run_sql(self.session.connection(), sql, max_rows, timeout_s)

    def record_batches(self, table: Table, query: datastore.Query) -> Iterable[list[dict]]:
        return datastore.iterate(self.session.connection(), table, query)
