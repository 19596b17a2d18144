"""The registry as open data: partnerships and their activities as two CSV datasets of the city's catalogue,
published through its open data service when they change. Nothing in them names a person (staff appear nowhere;
cities, dates and counts only)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kota_collab.service_layer.services import MakeUnitOfWork

PARTNERSHIPS = "kerja-sama-kota"
ACTIVITIES = "kegiatan-kerja-sama-kota"


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    notes: str
    csv: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.csv).hexdigest()


class Catalogue(Protocol):
    def publish(self, table: Table) -> None: ...


def _csv(header: list[str], rows: Sequence[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def tables(make_uow: MakeUnitOfWork) -> list[Table]:
    with make_uow() as uow:
        cities = {c.id: c for c in uow.cities.all()}
        home = next((c.id for c in cities.values() if c.home), "")
        partnerships = uow.partnerships.filtered()
        activities = [(p, a) for p in partnerships for a in uow.activities.of_partnership(p.id)]
    p_rows = []
    for p in partnerships:
        partners = [cities[i] for i in p.party_ids() if i != home and i in cities]
        p_rows.append([p.id, p.kind.value, p.scope, p.title, "; ".join(c.name for c in partners),
                       "; ".join(sorted({c.country for c in partners})), p.status.value,
                       p.signed_on.isoformat() if p.signed_on else "", p.valid_until.isoformat() if p.valid_until else "",
                       "; ".join(f.value for f in p.focus_areas)])
    a_rows = [[a.id, p.id, p.title, a.kind.value, a.title, a.starts_on.isoformat() if a.starts_on else "",
               a.ends_on.isoformat() if a.ends_on else "", a.participants, a.outcomes] for p, a in activities]
    return [
        Table(PARTNERSHIPS, "Kerja sama kota", "Kerja sama daerah (sister city, MoU, ASCN, kerja sama teknis) dengan "
              "kota mitra: jenis, lingkup (dalam/luar negeri), status, tanggal penandatanganan dan bidang. Tanggal "
              "yang tidak diketahui dibiarkan kosong.",
              _csv(["id", "jenis", "lingkup", "judul", "mitra", "negara_mitra", "status", "ditandatangani",
                    "berlaku_sampai", "bidang"], p_rows)),
        Table(ACTIVITIES, "Kegiatan kerja sama kota", "Kunjungan, lokakarya dan solusi bersama dalam kerja sama kota.",
              _csv(["id", "kerja_sama_id", "kerja_sama", "jenis", "judul", "mulai", "selesai", "peserta", "hasil"],
                   a_rows)),
    ]


class CataloguePublisher:
    """Publishes each table when its content differs from what this process last published."""

    def __init__(self, make_uow: MakeUnitOfWork, catalogue: Catalogue,
                 on_error: Callable[[Table, Exception], None] | None = None):
        self.make_uow = make_uow
        self.catalogue = catalogue
        self.published: dict[str, str] = {}
        self.on_error = on_error

    def run(self) -> int:
        done = 0
        for table in tables(self.make_uow):
            if self.published.get(table.name) == table.digest:
                continue
            if table.csv.count(b"\n") < 2:  # no rows yet: an empty dataset helps no one
                continue
            self.catalogue.publish(table)
            self.published[table.name] = table.digest
            done += 1
        return done
