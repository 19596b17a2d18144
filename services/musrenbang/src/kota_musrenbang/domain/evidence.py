"""Evidence from the city for a proposal: the complaints of matching categories filed in its kelurahan and the
sensor alerts (Siaga, ISPU) raised around it over the last 12 months. Which complaint categories and alert kinds
speak for which activity is decided here, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

EVIDENCE_WINDOW = timedelta(days=365)
# An alert counts for the kecamatan nearest its station when the station is this close to that kecamatan's centre
# (gauges upstream, outside the city, speak for no kecamatan in particular).
ALERT_RADIUS_KM = 8.0
# Alerts at these severities are evidence; "normal" (a cleared alert) is not.
ALERT_SEVERITIES = frozenset({"watch", "warning", "danger"})

# Activity code prefix -> (complaint service codes, alert kinds) that bear on it.
_SOURCES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "DRN": (frozenset({"flooding", "drainage"}), frozenset({"flood"})),
    "JLN": (frozenset({"road_damage", "sidewalk"}), frozenset()),
    "PJU": (frozenset({"street_light", "public_order"}), frozenset()),
    "SMP": (frozenset({"waste"}), frozenset()),
    "TMN": (frozenset({"fallen_tree", "pollution", "air_quality"}), frozenset({"air_quality"})),
    "SOS": (frozenset({"health", "social"}), frozenset()),
    "EKO": (frozenset({"social"}), frozenset()),
}

# How a resident would say it: "38 laporan genangan".
COMPLAINT_WORDS = {
    "flooding": "genangan/banjir", "drainage": "saluran air", "road_damage": "jalan rusak", "sidewalk": "trotoar",
    "street_light": "lampu jalan", "public_order": "ketertiban", "waste": "sampah", "fallen_tree": "pohon tumbang",
    "pollution": "pencemaran", "air_quality": "kualitas udara", "health": "kesehatan", "social": "masalah sosial",
}
ALERT_WORDS = {"flood": "peringatan Siaga banjir", "air_quality": "peringatan ISPU tidak sehat"}


def sources_for(activity_code: str) -> tuple[frozenset[str], frozenset[str]]:
    """The complaint categories and alert kinds that are evidence for an activity."""
    return _SOURCES.get(activity_code.split("-", 1)[0], (frozenset(), frozenset()))


def window_start(now: datetime) -> datetime:
    return now - EVIDENCE_WINDOW


@dataclass(frozen=True)
class Evidence:
    complaints: dict[str, int]  # service code -> complaints in the kelurahan over the window
    alerts: dict[str, int]  # alert kind -> alerts around the kecamatan over the window

    @property
    def complaint_count(self) -> int:
        return sum(self.complaints.values())

    @property
    def alert_count(self) -> int:
        return sum(self.alerts.values())

    @property
    def total(self) -> int:
        return self.complaint_count + self.alert_count

    def summaries(self) -> list[str]:
        lines = [f"{n} laporan {COMPLAINT_WORDS.get(code, code)} di kelurahan ini dalam 12 bulan terakhir"
                 for code, n in sorted(self.complaints.items(), key=lambda kv: (-kv[1], kv[0])) if n]
        lines += [f"{n} {ALERT_WORDS.get(kind, kind)} di sekitar kecamatan ini dalam 12 bulan terakhir"
                  for kind, n in sorted(self.alerts.items(), key=lambda kv: (-kv[1], kv[0])) if n]
        return lines


NO_EVIDENCE = Evidence({}, {})
