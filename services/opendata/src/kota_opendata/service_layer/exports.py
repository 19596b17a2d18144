"""Downloads (CSV, GeoJSON) and the DCAT catalogue (JSON-LD), built from the catalogue and the records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence

from kota_opendata.adapters.datastore import FieldDef

CHUNK = 64 * 1024


def csv_chunks(fields: Sequence[FieldDef], batches: Iterable[list[dict]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["_id"] + [f.id for f in fields])
    for batch in batches:
        for row in batch:
            writer.writerow([row["_id"]] + ["" if row.get(f.id) is None else row[f.id] for f in fields])
            if buf.tell() >= CHUNK:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


def geojson_chunks(fields: Sequence[FieldDef], batches: Iterable[list[dict]]) -> Iterator[bytes]:
    props = [f.id for f in fields if f.id not in ("lat", "lon")]
    parts: list[str] = ['{"type":"FeatureCollection","features":[']
    size, first = len(parts[0]), True
    for batch in batches:
        for row in batch:
            lat, lon = row.get("lat"), row.get("lon")
            geometry = {"type": "Point", "coordinates": [lon, lat]} if lat is not None and lon is not None else None
            feature = {"type": "Feature", "id": row["_id"], "geometry": geometry,
                       "properties": {p: row.get(p) for p in props}}
            text = ("" if first else ",") + json.dumps(feature, ensure_ascii=False)
            first = False
            parts.append(text)
            size += len(text)
            if size >= CHUNK:
                yield "".join(parts).encode()
                parts, size = [], 0
    parts.append("]}")
    yield "".join(parts).encode()


def bbox_polygon(bbox_json: str) -> str:
    """The spatial coverage as a GeoJSON Polygon (text), from [min_lon, min_lat, max_lon, max_lat]."""
    if not bbox_json:
        return ""
    w, s, e, n = json.loads(bbox_json)
    return json.dumps({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})


FREQUENCIES = {
    "continuous": "http://purl.org/cld/freq/continuous",
    "hourly": "http://publications.europa.eu/resource/authority/frequency/HOURLY",
    "daily": "http://purl.org/cld/freq/daily",
    "10-minute": "http://publications.europa.eu/resource/authority/frequency/UPDATE_CONT",
    "weekly": "http://purl.org/cld/freq/weekly",
    "monthly": "http://purl.org/cld/freq/monthly",
    "annual": "http://purl.org/cld/freq/annual",
    "irregular": "http://purl.org/cld/freq/irregular",
}


def dcat_catalog(base_url: str, title: str, description: str, datasets: list[dict]) -> str:
    """`datasets`: dicts with name, id, title, notes, organization (code, title), tags, groups, license_url,
    temporal_start/end, spatial (GeoJSON text), frequency, created, modified, resources [(format, mimetype, url)]."""
    base = base_url.rstrip("/")
    graph = []
    for d in datasets:
        uri = f"{base}/dataset/{d['name']}"
        entry = {
            "@id": uri,
            "@type": "dcat:Dataset",
            "dct:identifier": d["id"],
            "dct:title": d["title"],
            "dct:description": d["notes"],
            "dct:issued": {"@value": d["created"], "@type": "xsd:dateTime"},
            "dct:modified": {"@value": d["modified"], "@type": "xsd:dateTime"},
            "dct:publisher": {"@id": f"{base}/organization/{d['organization'][0].lower()}", "@type": "foaf:Organization",
                              "foaf:name": d["organization"][1]},
            "dcat:keyword": list(d["tags"]),
            "dcat:theme": [f"{base}/group/{g}" for g in d["groups"]],
            "dcat:landingPage": uri,
            "dct:license": {"@id": d["license_url"]} if d["license_url"] else None,
            "dct:accrualPeriodicity": {"@id": FREQUENCIES[d["frequency"]]} if d["frequency"] in FREQUENCIES else None,
            "dcat:distribution": [
                {"@type": "dcat:Distribution", "dct:format": fmt, "dcat:mediaType": mime,
                 "dcat:downloadURL": {"@id": f"{base}{url}"}, "dcat:accessURL": {"@id": uri}}
                for fmt, mime, url in d["resources"]
            ],
        }
        if d["temporal_start"] or d["temporal_end"]:
            entry["dct:temporal"] = {"@type": "dct:PeriodOfTime", "dcat:startDate": d["temporal_start"],
                                     "dcat:endDate": d["temporal_end"]}
        if d["spatial"]:
            entry["dct:spatial"] = {"@type": "dct:Location", "locn:geometry": {"@value": d["spatial"],
                                    "@type": "https://www.iana.org/assignments/media-types/application/vnd.geo+json"}}
        graph.append({k: v for k, v in entry.items() if v is not None})
    doc = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "locn": "http://www.w3.org/ns/locn#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": f"{base}/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": title,
        "dct:description": description,
        "dcat:dataset": graph,
    }
    return json.dumps(doc, ensure_ascii=False)
