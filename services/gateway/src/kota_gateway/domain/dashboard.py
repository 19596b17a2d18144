"""The city dashboard's complaint figures: counts by category, kota, status, agency and channel, the last
fourteen days, and resolution times per category, from the complaints' public views."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from kota.complaints.v1 import complaints_pb2 as pb
from kota_gateway.domain.complaints import OPEN, STATUS_NAMES


def summarise(items: list, now: datetime) -> dict:
    by_category, by_kota, by_status, by_agency, by_channel = (Counter[str]() for _ in range(5))
    hours: dict[str, list[float]] = defaultdict(list)
    daily = Counter[str]()
    since = (now - timedelta(days=13)).date()
    for c in items:
        by_category[c.service_name or c.service_code] += 1
        by_kota[c.location.kota or "(tanpa kota)"] += 1
        by_status[STATUS_NAMES.get(c.status, "unknown")] += 1
        by_agency[c.agency_code or "-"] += 1
        by_channel[pb.Channel.Name(c.channel).removeprefix("CHANNEL_").lower()] += 1
        requested = c.requested_at.ToDatetime(tzinfo=timezone.utc)
        if requested.date() >= since:
            daily[requested.date().isoformat()] += 1
        for h in c.history:
            if h.status == pb.STATUS_RESOLVED:
                hours[c.service_name or c.service_code].append(
                    (h.at.ToDatetime(tzinfo=timezone.utc) - requested).total_seconds() / 3600
                )
                break
    resolution = [
        {"category": k, "resolved": len(v), "median_hours": round(statistics.median(v), 2),
         "mean_hours": round(statistics.fmean(v), 2)}
        for k, v in sorted(hours.items())
    ]
    days = [(since + timedelta(days=i)).isoformat() for i in range(14)]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "total": len(items),
        "open": sum(1 for c in items if c.status in OPEN),
        "sla_breached": sum(1 for c in items if c.sla_breached and c.status in OPEN),
        "by_category": dict(by_category.most_common()),
        "by_kota": dict(by_kota.most_common()),
        "by_status": dict(by_status.most_common()),
        "by_agency": dict(by_agency.most_common()),
        "by_channel": dict(by_channel.most_common()),
        "per_day": {d: daily.get(d, 0) for d in days},
        "resolution_times": resolution,
    }
