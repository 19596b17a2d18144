"""The catalogue: definitions of the event-fed datasets, organizations, groups and licenses (dataset search is
search_query.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

NAMESPACE = uuid.UUID("6f1f2d3e-6a43-4a0b-9a7e-0c0a7d1b2e55")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
LICENSES = {
    "cc-by-4.0": ("Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "cc-by-sa-4.0": ("Creative Commons Attribution Share-Alike 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "cc0-1.0": ("Creative Commons CCZero", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "odc-odbl": ("Open Data Commons Open Database License (ODbL)", "https://opendatacommons.org/licenses/odbl/"),
    "other-open": ("Other (Open)", ""),
}
DEFAULT_LICENSE = "cc-by-4.0"
FACET_TITLES = {
    "organization": "Organizations",
    "tags": "Tags",
    "groups": "Groups",
    "license_id": "Licenses",
    "res_format": "Formats",
    "frequency": "Update frequency",
    "source": "Source",
}


def dataset_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"dataset:{name}"))


def resource_id(name: str, fmt: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"resource:{name}:{fmt.lower()}"))


def organization_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"organization:{name.lower()}"))


def group_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"group:{name}"))


@dataclass(frozen=True)
class LiveDataset:
    """A dataset maintained from events. `key` names the fields whose values identify a record."""

    name: str
    title: str
    notes: str
    organization: str
    tags: tuple[str, ...]
    groups: tuple[str, ...]
    frequency: str
    fields: tuple[tuple[str, str, str], ...]  # (id, type, label)
    key: tuple[str, ...]
    time_field: str
    indexes: tuple[tuple[str, ...], ...] = ()
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def spatial(self) -> bool:
        ids = {f[0] for f in self.fields}
        return {"lat", "lon"} <= ids


COMPLAINTS = LiveDataset(
    name="pengaduan-warga",
    title="Pengaduan warga (per laporan, dianonimkan)",
    notes="Every citizen complaint received by the city's CRM, one row per complaint, anonymised: no reporter "
    "identity, free text scrubbed of phone numbers, e-mail addresses and NIK, location snapped to a ~100 m grid, "
    "time truncated to the hour. Updated live as complaints are routed and resolved.",
    organization="DISKOMINFOTIK",
    tags=("pengaduan", "crm", "layanan publik"),
    groups=("pengaduan",),
    frequency="continuous",
    fields=(
        ("complaint_id", "text", "Complaint id"),
        ("submitted_at", "timestamp", "Submitted (hour, UTC)"),
        ("submitted_date", "date", "Submitted (date)"),
        ("channel", "text", "Channel"),
        ("service_code", "text", "Category"),
        ("agency_code", "text", "Responsible agency"),
        ("status", "text", "Status"),
        ("description", "text", "Description (scrubbed)"),
        ("kelurahan_code", "text", "Kelurahan code"),
        ("kelurahan", "text", "Kelurahan"),
        ("kecamatan", "text", "Kecamatan"),
        ("kota_code", "text", "Kota code"),
        ("kota", "text", "Kota"),
        ("lat", "numeric", "Latitude (~100 m grid)"),
        ("lon", "numeric", "Longitude (~100 m grid)"),
        ("resolved_at", "timestamp", "Resolved (hour, UTC)"),
        ("resolution_hours", "numeric", "Hours to resolution"),
        ("rating", "int", "Citizen rating 1-5"),
        ("duplicate_of", "text", "Duplicate of"),
        ("supporters_count", "int", "Supporters"),
        ("sla_breached", "bool", "SLA breached"),
    ),
    key=("complaint_id",),
    time_field="submitted_at",
    indexes=(("complaint_id",), ("status",), ("service_code",), ("kelurahan_code",), ("kota_code",), ("submitted_at",),
             ("agency_code",)),
    extras={"anonymisation": "docs/opendata-anonymisation.md#complaints-per-record"},
)

COMPLAINT_COUNTS = LiveDataset(
    name="pengaduan-warga-harian",
    title="Jumlah pengaduan harian per kelurahan, kategori dan status",
    notes="Daily counts of complaints by kelurahan x category x current status, with mean resolution time. "
    "Cells with fewer than k complaints (k=3 by default) are suppressed: count and mean are empty.",
    organization="DISKOMINFOTIK",
    tags=("pengaduan", "statistik"),
    groups=("pengaduan",),
    frequency="continuous",
    fields=(
        ("date", "date", "Date submitted"),
        ("kelurahan_code", "text", "Kelurahan code"),
        ("kelurahan", "text", "Kelurahan"),
        ("kecamatan", "text", "Kecamatan"),
        ("kota", "text", "Kota"),
        ("service_code", "text", "Category"),
        ("status", "text", "Current status"),
        ("count", "int", "Complaints (empty when suppressed)"),
        ("mean_resolution_hours", "numeric", "Mean hours to resolution"),
        ("suppressed", "bool", "Small cell suppressed"),
    ),
    key=("date", "kelurahan_code", "service_code", "status"),
    time_field="date",
    indexes=(("date",), ("kelurahan_code",), ("service_code",), ("status",)),
    extras={"anonymisation": "docs/opendata-anonymisation.md#daily-counts"},
)

AIR_QUALITY = LiveDataset(
    name="kualitas-udara-ispu-per-jam",
    title="Kualitas udara: ISPU per jam per stasiun",
    notes="Hourly mean concentrations (µg/m³) per air-quality station and the ISPU (Permen LHK P.14/2020) "
    "computed from them: the highest sub-index, its critical parameter and category.",
    organization="DLH",
    tags=("kualitas udara", "ispu", "lingkungan", "sensor"),
    groups=("lingkungan",),
    frequency="hourly",
    fields=(
        ("station_id", "text", "Station"),
        ("station_name", "text", "Station name"),
        ("hour", "timestamp", "Hour (UTC, start)"),
        ("pm10", "numeric", "PM10 µg/m³"),
        ("pm25", "numeric", "PM2.5 µg/m³"),
        ("so2", "numeric", "SO2 µg/m³"),
        ("co", "numeric", "CO µg/m³"),
        ("o3", "numeric", "O3 µg/m³"),
        ("no2", "numeric", "NO2 µg/m³"),
        ("hc", "numeric", "HC µg/m³"),
        ("ispu", "int", "ISPU"),
        ("critical_parameter", "text", "Critical parameter"),
        ("category", "text", "Category"),
        ("samples", "int", "Readings averaged"),
        ("lat", "numeric", "Latitude"),
        ("lon", "numeric", "Longitude"),
    ),
    key=("station_id", "hour"),
    time_field="hour",
    indexes=(("station_id", "hour"), ("hour",), ("category",)),
)

WATER_LEVELS = LiveDataset(
    name="tinggi-muka-air-10-menit",
    title="Tinggi muka air per pintu air (10 menit)",
    notes="Water level per flood gauge in 10-minute intervals (mean and maximum, cm) with the Siaga level "
    "(4 normal ... 1 danger) where the gauge's thresholds are known.",
    organization="DSDA",
    tags=("banjir", "tinggi muka air", "sensor"),
    groups=("lingkungan",),
    frequency="10-minute",
    fields=(
        ("gauge_id", "text", "Gauge"),
        ("gauge_name", "text", "Gauge name"),
        ("interval_start", "timestamp", "Interval start (UTC)"),
        ("level_cm_mean", "numeric", "Mean level cm"),
        ("level_cm_max", "numeric", "Max level cm"),
        ("siaga", "int", "Siaga level (1 danger - 4 normal)"),
        ("samples", "int", "Readings"),
        ("lat", "numeric", "Latitude"),
        ("lon", "numeric", "Longitude"),
    ),
    key=("gauge_id", "interval_start"),
    time_field="interval_start",
    indexes=(("gauge_id", "interval_start"), ("interval_start",)),
)

ALERTS = LiveDataset(
    name="riwayat-peringatan-sensor",
    title="Riwayat peringatan sensor (banjir, kualitas udara)",
    notes="Every alert level change raised by the city's sensors: flood Siaga levels per gauge, ISPU "
    "categories per station, silent devices.",
    organization="BPBD",
    tags=("peringatan", "banjir", "kualitas udara", "sensor"),
    groups=("lingkungan",),
    frequency="continuous",
    fields=(
        ("alert_id", "text", "Alert"),
        ("kind", "text", "Kind"),
        ("station_id", "text", "Station or gauge"),
        ("station_name", "text", "Name"),
        ("level", "text", "Level"),
        ("previous_level", "text", "Previous level"),
        ("severity", "text", "Severity"),
        ("value", "numeric", "Value"),
        ("unit", "text", "Unit"),
        ("observed_at", "timestamp", "Observed (UTC)"),
        ("kota_code", "text", "Kota code"),
        ("lat", "numeric", "Latitude"),
        ("lon", "numeric", "Longitude"),
    ),
    key=("alert_id", "observed_at", "level"),
    time_field="observed_at",
    indexes=(("station_id",), ("observed_at",), ("kind",), ("severity",)),
)

_PROPOSAL_AREA_FIELDS = (
    ("kelurahan_code", "text", "Kode kelurahan / Kelurahan code"),
    ("kelurahan", "text", "Kelurahan"),
    ("kecamatan", "text", "Kecamatan"),
    ("kota", "text", "Kota"),
    ("rw", "text", "RW"),
    ("lat", "numeric", "Lintang / Latitude (~100 m grid)"),
    ("lon", "numeric", "Bujur / Longitude (~100 m grid)"),
)

MUSRENBANG_PROPOSALS = LiveDataset(
    name="usulan-musrenbang",
    title="Usulan Musrenbang (e-Musrenbang, dianonimkan)",
    notes="Setiap usulan warga dalam Musrenbang: kegiatan, lokasi sampai RW, biaya, status, tingkat forum dan "
    "jumlah dukungan, diperbarui langsung. / Every development-planning (Musrenbang) proposal, one row each, "
    "kept current by every event of the proposal: activity, volume, cost, the responsible agency, location down "
    "to the RW with the point snapped to a ~100 m grid, status and the forum level it stands at, its rank there, "
    "the reason of its last status change, the number of residents supporting it, and the proposal it was "
    "merged into. No proposer: the musrenbang service never publishes one. Titles, problems and reasons are "
    "scrubbed of phone numbers, e-mail addresses and NIK; photos are not published.",
    organization="BAPPEDA",
    tags=("musrenbang", "perencanaan", "usulan warga", "partisipasi"),
    groups=("perencanaan",),
    frequency="continuous",
    fields=(
        ("proposal_id", "text", "ID usulan / Proposal id"),
        ("cycle_year", "int", "Tahun Musrenbang / Cycle year"),
        ("title", "text", "Judul / Title (scrubbed)"),
        ("problem", "text", "Permasalahan / Problem (scrubbed)"),
        ("activity_code", "text", "Kode kegiatan / Activity code"),
        ("activity_name", "text", "Kegiatan / Activity"),
        ("field", "text", "Bidang / Field"),
        ("agency_code", "text", "Perangkat daerah / Agency"),
        ("volume", "int", "Volume"),
        ("unit", "text", "Satuan / Unit"),
        ("unit_cost", "int", "Harga satuan / Unit cost (Rp)"),
        ("cost", "int", "Biaya / Cost (Rp)"),
        ("kecamatan_code", "text", "Kode kecamatan / Kecamatan code"),
        ("kota_code", "text", "Kode kota / Kota code"),
        *_PROPOSAL_AREA_FIELDS,
        ("status", "text", "Status"),
        ("level", "text", "Tingkat forum / Forum level"),
        ("rank", "int", "Peringkat di forum / Rank at that level"),
        ("status_reason", "text", "Alasan perubahan status / Reason of the last status change"),
        ("status_date", "date", "Tanggal status / Status date (UTC)"),
        ("support_count", "int", "Jumlah dukungan / Supports"),
        ("submitted_date", "date", "Tanggal diajukan / Submitted (date, UTC)"),
        ("merged_into", "text", "Digabung ke / Merged into"),
    ),
    key=("proposal_id",),
    time_field="submitted_date",
    indexes=(("proposal_id",), ("cycle_year",), ("status",), ("kelurahan_code",), ("kecamatan_code",), ("kota_code",),
             ("agency_code",), ("field",), ("submitted_date",)),
    extras={"anonymisation": "docs/opendata-anonymisation.md#musrenbang"},
)

MUSRENBANG_SELECTIONS = LiveDataset(
    name="pilihan-forum-musrenbang",
    title="Hasil pemilihan usulan forum Musrenbang kecamatan, dengan alasannya",
    notes="Keputusan forum Musrenbang kecamatan atas setiap usulan: terpilih atau tidak, dengan alasannya, skor "
    "dan biaya, beserta pagu indikatif dan totalnya. / One row per decision of each kecamatan forum's "
    "published selection: whether the proposal fits in the kecamatan's indicative budget (pagu indikatif), why "
    "or why not, its score and cost, with the budget, the fields' minimums and agencies' ceilings, the totals "
    "and the solver that proved the selection optimal. A selection published again for the same kecamatan "
    "and cycle replaces the earlier one. Join with usulan-musrenbang by proposal_id for titles and places.",
    organization="BAPPEDA",
    tags=("musrenbang", "perencanaan", "anggaran", "pagu indikatif"),
    groups=("perencanaan",),
    frequency="irregular",
    fields=(
        ("cycle_year", "int", "Tahun Musrenbang / Cycle year"),
        ("kecamatan_code", "text", "Kode kecamatan / Kecamatan code"),
        ("kecamatan", "text", "Kecamatan"),
        ("kota_code", "text", "Kode kota / Kota code"),
        ("kota", "text", "Kota"),
        ("proposal_id", "text", "ID usulan / Proposal id"),
        ("selected", "bool", "Terpilih / Selected"),
        ("reason", "text", "Alasan / Reason"),
        ("score", "numeric", "Skor / Score (0-100)"),
        ("cost", "int", "Biaya / Cost (Rp)"),
        ("budget", "int", "Pagu indikatif / Budget (Rp)"),
        ("total_cost", "int", "Total biaya terpilih / Selected cost (Rp)"),
        ("total_score", "numeric", "Total skor terpilih / Selected score"),
        ("selected_count", "int", "Jumlah terpilih / Selected proposals"),
        ("candidate_count", "int", "Jumlah usulan / Candidates"),
        ("field_minimums", "text", "Minimum per bidang / Field minimums (JSON, Rp)"),
        ("agency_ceilings", "text", "Batas per perangkat daerah / Agency ceilings (JSON, Rp)"),
        ("solver", "text", "Pemecah / Solver"),
        ("solver_status", "text", "Status pemecah / Solver status"),
        ("published_at", "timestamp", "Diterbitkan / Published (UTC)"),
    ),
    key=("cycle_year", "kecamatan_code", "proposal_id"),
    time_field="published_at",
    indexes=(("cycle_year", "kecamatan_code"), ("proposal_id",), ("selected",), ("published_at",)),
)

MUSRENBANG_REALISATION = LiveDataset(
    name="realisasi-musrenbang",
    title="Realisasi usulan Musrenbang dalam RKPD",
    notes="Usulan Musrenbang yang diterima dalam rencana kerja (RKPD): status pelaksanaan, capaian terakhir, dan "
    "alasan bila tidak terealisasi. / Proposals accepted into the work plan (RKPD) and what became of them: "
    "status (accepted, in_realisation, done, not_realised), the latest milestone's progress, title, date and "
    "note as the implementing agency reported it, and the reason when the works were not realised. Location "
    "as in usulan-musrenbang (RW, ~100 m grid); milestone photos are not published.",
    organization="BAPPEDA",
    tags=("musrenbang", "perencanaan", "realisasi", "rkpd"),
    groups=("perencanaan",),
    frequency="continuous",
    fields=(
        ("proposal_id", "text", "ID usulan / Proposal id"),
        ("cycle_year", "int", "Tahun Musrenbang / Cycle year"),
        ("title", "text", "Judul / Title (scrubbed)"),
        ("activity_name", "text", "Kegiatan / Activity"),
        ("field", "text", "Bidang / Field"),
        ("agency_code", "text", "Perangkat daerah / Agency"),
        ("volume", "int", "Volume"),
        ("unit", "text", "Satuan / Unit"),
        ("cost", "int", "Biaya / Cost (Rp)"),
        *_PROPOSAL_AREA_FIELDS,
        ("status", "text", "Status"),
        ("accepted_date", "date", "Diterima dalam RKPD / Accepted (date, UTC)"),
        ("progress_percent", "int", "Progres fisik / Progress (%)"),
        ("milestone_title", "text", "Capaian terakhir / Latest milestone"),
        ("milestone_date", "date", "Tanggal capaian / Milestone date"),
        ("milestone_note", "text", "Catatan capaian / Milestone note (scrubbed)"),
        ("not_realised_reason", "text", "Alasan tidak terealisasi / Why not realised"),
        ("last_change_date", "date", "Perubahan terakhir / Last change (date)"),
    ),
    key=("proposal_id",),
    time_field="last_change_date",
    indexes=(("proposal_id",), ("cycle_year",), ("status",), ("agency_code",), ("kelurahan_code",),
             ("last_change_date",)),
    extras={"anonymisation": "docs/opendata-anonymisation.md#musrenbang"},
)

LIVE_DATASETS = (COMPLAINTS, COMPLAINT_COUNTS, AIR_QUALITY, WATER_LEVELS, ALERTS, MUSRENBANG_PROPOSALS,
                 MUSRENBANG_SELECTIONS, MUSRENBANG_REALISATION)

ORGANIZATIONS = {
    "DISKOMINFOTIK": ("Dinas Komunikasi, Informatika dan Statistik", "Runs the city's CRM and the Satu Data portal."),
    "DLH": ("Dinas Lingkungan Hidup", "Environment agency: air-quality monitoring stations."),
    "DSDA": ("Dinas Sumber Daya Air", "Water resources agency: flood gauges and pumps."),
    "BPBD": ("Badan Penanggulangan Bencana Daerah", "Disaster management agency: early warnings."),
    "DISHUB": ("Dinas Perhubungan", "Transport agency."),
    "BAPPEDA": ("Badan Perencanaan Pembangunan Daerah", "Planning agency: Musrenbang."),
    "DBM": ("Dinas Bina Marga", "Roads and bridges."),
    "SATPOLPP": ("Satuan Polisi Pamong Praja", "Public order."),
    "DPHK": ("Dinas Pertamanan dan Hutan Kota", "Parks and urban forests."),
    "DINKES": ("Dinas Kesehatan", "Health."),
    "GULKARMAT": ("Dinas Penanggulangan Kebakaran dan Penyelamatan", "Fire and rescue."),
    "DCKTRP": ("Dinas Cipta Karya, Tata Ruang dan Pertanahan", "Buildings, spatial planning and land."),
    "DINSOS": ("Dinas Sosial", "Social services."),
}
GROUPS = {
    "pengaduan": ("Pengaduan warga", "Citizen complaints and public service performance."),
    "lingkungan": ("Lingkungan", "Environment: air quality, water, floods."),
    "transportasi": ("Transportasi", "Transport and mobility."),
    "perencanaan": ("Perencanaan", "Planning and budgeting."),
    "kependudukan": ("Kependudukan", "Population statistics (aggregated)."),
}
