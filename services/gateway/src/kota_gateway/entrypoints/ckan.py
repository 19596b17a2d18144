"""CKAN Action API (the subset ckanapi.RemoteCKAN and CKAN's documentation use), DCAT and downloads,
over the opendata gRPC API. Envelope {"help", "success", "result"}; errors {"__type", "message"} with CKAN's
HTTP codes (400 bad request, 403 authorization, 404 not found, 409 validation)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from google.protobuf import struct_pb2
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable
from kota_gateway.adapters.opendata import OpenDataClient
from kota_gateway.entrypoints.errors import RETRY_LATER, answering, plain_failure, validation_messages
from kota_gateway.httputil import ckan_error

# the Action API answers in CKAN's envelope, even when no action ran
router = APIRouter(tags=["CKAN Action API, DCAT and downloads"], route_class=answering({
    ServiceUnavailable: lambda request, exc: ckan_error(503, str(exc), headers=RETRY_LATER),
    RequestValidationError: lambda request, exc: ckan_error(400, validation_messages(exc.errors())),
    HTTPException: lambda request, exc: ckan_error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)),
}))
# the catalogue and the downloads are files; their errors are plain JSON
downloads_router = APIRouter(tags=["CKAN Action API, DCAT and downloads"], route_class=answering({
    RpcFailure: plain_failure,
    ServiceUnavailable: lambda request, exc: JSONResponse({"detail": str(exc)}, 503, headers=RETRY_LATER),
    RequestValidationError: lambda request, exc: JSONResponse({"detail": validation_messages(exc.errors())}, 400),
    HTTPException: lambda request, exc: JSONResponse({"detail": exc.detail}, exc.status_code,
                                                     headers=getattr(exc, "headers", None)),
}))

HELP = "https://docs.ckan.org/en/2.10/api/index.html"


class CkanError(Exception):
    def __init__(self, status: int, kind: str, message: str, fields: dict[str, list[str]] | None = None):
        self.status, self.kind, self.message, self.fields = status, kind, message, fields or {}


def _pb():
    from kota.opendata.v1 import opendata_pb2

    return opendata_pb2


def _iso(ts) -> str | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=timezone.utc).replace(tzinfo=None).isoformat()


def organization_dict(o) -> dict:
    return {"id": o.id, "name": o.name, "title": o.title, "display_name": o.title or o.name, "description": o.description,
            "image_url": o.image_url, "package_count": o.package_count, "created": _iso(o.created), "type": "organization",
            "is_organization": True, "state": "active", "approval_status": "approved"}


def group_dict(g) -> dict:
    return {"id": g.id, "name": g.name, "title": g.title, "display_name": g.title or g.name, "description": g.description,
            "package_count": g.package_count, "type": "group", "is_organization": False, "state": "active"}


def resource_dict(r, base_url: str) -> dict:
    url = r.url if r.url.startswith(("http://", "https://")) else base_url + r.url
    return {"id": r.id, "package_id": r.package_id, "name": r.name, "description": r.description, "format": r.format,
            "mimetype": r.mimetype, "url": url, "datastore_active": r.datastore_active, "created": _iso(r.created),
            "last_modified": _iso(r.last_modified), "state": "active", "url_type": "datastore" if r.datastore_active else None}


def package_dict(d, base_url: str) -> dict:
    org = organization_dict(d.organization) if d.organization.id else None
    return {
        "id": d.id, "name": d.name, "title": d.title, "notes": d.notes, "type": "dataset", "state": d.state or "active",
        "private": False, "owner_org": org["id"] if org else None, "organization": org,
        "tags": [{"name": t, "display_name": t, "state": "active"} for t in d.tags], "num_tags": len(d.tags),
        "groups": [group_dict(g) for g in d.groups],
        "license_id": d.license_id, "license_title": d.license_title, "license_url": d.license_url,
        "resources": [resource_dict(r, base_url) for r in d.resources], "num_resources": len(d.resources),
        "version": d.version, "metadata_created": _iso(d.metadata_created), "metadata_modified": _iso(d.metadata_modified),
        "maintainer": d.maintainer, "author": d.organization.title or None,
        "extras": [{"key": k, "value": v} for k, v in sorted(d.extras.items())]
        + [{"key": k, "value": v} for k, v in (("frequency", d.frequency), ("spatial", d.spatial), ("source", d.source)) if v],
        "temporal_start": _iso(d.temporal_start), "temporal_end": _iso(d.temporal_end),
        "record_count": d.record_count,
        "versions": [{"number": v.number, "created": _iso(v.created), "record_count": v.record_count, "actor": v.actor,
                      "note": v.note} for v in d.versions],
    }


# -- parameters -----------------------------------------------------------------------------------------


def _int(params: dict, name: str, default: int | None = None, lo: int = 0, hi: int = 1_000_000) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise CkanError(409, "Validation Error", f"{name}: Invalid integer", {name: ["Invalid integer"]}) from None
    if not lo <= value <= hi:
        raise CkanError(409, "Validation Error", f"{name}: Must be between {lo} and {hi}", {name: [f"Must be between {lo} and {hi}"]})
    return value


def _bool(params: dict, name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    return str(raw).lower() in ("true", "1", "yes", "on")


def _str(params: dict, name: str, default: str = "") -> str:
    raw = params.get(name, default)
    if raw is None:
        return default
    if not isinstance(raw, str | int | float):
        raise CkanError(409, "Validation Error", f"{name}: must be a string", {name: ["must be a string"]})
    return str(raw)


def _required(params: dict, name: str) -> str:
    value = _str(params, name)
    if not value:
        raise CkanError(409, "Validation Error", f"{name}: Missing value", {name: ["Missing value"]})
    return value


def _json_or_list(params: dict, name: str) -> list[str]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip().startswith("[") else [p.strip() for p in raw.split(",") if p.strip()]
        except ValueError:
            raise CkanError(409, "Validation Error", f"{name}: not a JSON list", {name: ["not a JSON list"]}) from None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise CkanError(409, "Validation Error", f"{name}: must be a list of strings", {name: ["must be a list of strings"]})
    return raw


def _filters(params: dict, name: str = "filters") -> struct_pb2.Struct | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise CkanError(409, "Validation Error", f"{name}: Cannot parse JSON", {name: ["Cannot parse JSON"]}) from None
    if not isinstance(raw, dict):
        raise CkanError(409, "Validation Error", f"{name}: must be an object", {name: ["must be an object"]})
    s = struct_pb2.Struct()
    try:
        s.update(raw)
    except (ValueError, TypeError) as exc:
        raise CkanError(409, "Validation Error", f"{name}: {exc}", {name: [str(exc)]}) from None
    return s


# -- actions --------------------------------------------------------------------------------------------

Action = Callable[[Request, dict, str], Awaitable[Any]]
ACTIONS: dict[str, Action] = {}


def action(fn: Action) -> Action:
    ACTIONS[fn.__name__] = fn
    return fn


def opendata(request: Request) -> OpenDataClient:
    client = request.app.state.opendata
    if client is None:
        raise ServiceUnavailable("opendata", "not configured in this gateway")
    return client


@action
async def package_list(request, params, base_url):
    return list(await opendata(request).list_datasets(limit=_int(params, "limit", 0), offset=_int(params, "offset", 0)))


def _filter_queries(params: dict) -> str:
    """`fq` and CKAN 2.9's `fq_list` as one filter: each in parentheses, all required."""
    raw = params.get("fq_list")
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise CkanError(409, "Validation Error", "fq_list: not a JSON list", {"fq_list": ["not a JSON list"]}) from None
    extra = [raw] if isinstance(raw, str) else raw if raw is not None else []
    if not isinstance(extra, list) or not all(isinstance(f, str) for f in extra):
        raise CkanError(409, "Validation Error", "fq_list: must be a list of strings", {"fq_list": ["must be a list of strings"]})
    filters = [f for f in [_str(params, "fq"), *extra] if f.strip()]
    return filters[0] if len(filters) == 1 else " ".join(f"({f})" for f in filters)


async def _search(request, params: dict, *, sort: str, rows: int | None, start: int):
    pb = _pb()
    message = pb.SearchDatasetsRequest(q=_str(params, "q"), fq=_filter_queries(params), sort=sort, start=start,
                                       facet_fields=_json_or_list(params, "facet.field"))
    if rows is not None:
        message.rows = rows
    facet_limit = _int(params, "facet.limit", None, -1, 1000)
    if facet_limit is not None:
        message.facet_limit = facet_limit
    return message, await opendata(request).search_datasets(message)


@action
async def package_search(request, params, base_url):
    """Every parameter ckanext-harvest's CKAN harvester and ckanapi send: q and fq (Solr syntax, parsed and run as
    SQL by the opendata service), fq_list, sort (any indexed field, `id asc` included), start/rows, facet.field,
    facet.limit. include_private and include_drafts change nothing: every dataset here is public and active."""
    message, reply = await _search(request, params, sort=_str(params, "sort"), rows=_int(params, "rows", None, 0, 1000),
                                   start=_int(params, "start", 0) or 0)
    return {
        "count": reply.count,
        "results": [package_dict(d, base_url) for d in reply.results],
        "facets": {f.field: {i.name: i.count for i in f.items} for f in reply.facets},
        "search_facets": {f.field: {"title": f.title or f.field, "items": [
            {"name": i.name, "display_name": i.display_name or i.name, "count": i.count} for i in f.items]} for f in reply.facets},
        "sort": message.sort or "score desc, metadata_modified desc",
    }


@action
async def current_package_list_with_resources(request, params, base_url):
    """Datasets with their resources, most recently modified first (limit/offset, or page)."""
    limit = _int(params, "limit", 10, 1, 1000) or 10
    offset = _int(params, "offset", 0) or 0
    page = _int(params, "page", None, 1)
    if page is not None:
        offset = (page - 1) * limit
    _, reply = await _search(request, {}, sort="metadata_modified desc", rows=limit, start=offset)
    return [package_dict(d, base_url) for d in reply.results]


@action
async def package_autocomplete(request, params, base_url):
    q = _str(params, "q") or _str(params, "incomplete")
    matches = await opendata(request).autocomplete(q, _int(params, "limit", 10, 1, 100) or 10)
    return [{"name": m.name, "title": m.title, "match_field": m.match_field,
             "match_displayed": m.name if m.match_field == "name" else f"{m.title} ({m.name})"} for m in matches]


@action
async def license_list(request, params, base_url):
    return [{"id": lic.id, "title": lic.title, "url": lic.url, "status": "active",
             "od_conformance": "approved" if lic.open else "not reviewed", "osd_conformance": "not reviewed",
             "domain_content": True, "domain_data": True, "domain_software": False, "family": "", "maintainer": ""}
            for lic in await opendata(request).list_licenses()]


@action
async def package_activity_list(request, params, base_url):
    """A dataset's activity stream, newest first: one entry per event the open data service published about it."""
    activities = await opendata(request).dataset_activity(
        _required(params, "id"), offset=_int(params, "offset", 0) or 0, limit=_int(params, "limit", 31, 1, 100) or 31)
    return [{"id": a.id, "timestamp": _iso(a.timestamp), "user_id": a.actor, "object_id": a.dataset_id,
             "activity_type": a.activity_type,
             "data": {"package": {"id": a.dataset_id, "version": str(a.version), "record_count": a.record_count},
                      "changes": a.changes, "note": a.note, "event_type": a.event_type}} for a in activities]


@action
async def package_show(request, params, base_url):
    return package_dict(await opendata(request).get_dataset(_required(params, "id")), base_url)


@action
async def organization_list(request, params, base_url):
    organizations = await opendata(request).list_organizations(
        sort=_str(params, "sort"), limit=_int(params, "limit", 0), offset=_int(params, "offset", 0))
    if _bool(params, "all_fields"):
        return [organization_dict(o) for o in organizations]
    return [o.name for o in organizations]


@action
async def organization_show(request, params, base_url):
    reply = await opendata(request).get_organization(_required(params, "id"),
                                                     include_datasets=_bool(params, "include_datasets"))
    org = organization_dict(reply.organization)
    if _bool(params, "include_datasets"):
        org["packages"] = [package_dict(d, base_url) for d in reply.datasets]
    return org


@action
async def group_list(request, params, base_url):
    groups = await opendata(request).list_groups()
    if _bool(params, "all_fields"):
        return [group_dict(g) for g in groups]
    return [g.name for g in groups]


@action
async def tag_list(request, params, base_url):
    tags = await opendata(request).list_tags(_str(params, "query"))
    if _bool(params, "all_fields"):
        return [{"name": t, "display_name": t} for t in tags]
    return list(tags)


@action
async def resource_show(request, params, base_url):
    return resource_dict(await opendata(request).get_resource(_required(params, "id")), base_url)


def _datastore_q(params: dict) -> tuple[str, dict[str, str]]:
    """CKAN's datastore q: text over every text field, or an object {field: text} (JSON text in a query string)."""
    raw = params.get("q")
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise CkanError(409, "Validation Error", "q: Cannot parse JSON", {"q": ["Cannot parse JSON"]}) from None
    if isinstance(raw, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise CkanError(409, "Validation Error", "q: an object of field: text", {"q": ["an object of field: text"]})
        return "", raw
    return _str(params, "q"), {}


@action
async def datastore_search(request, params, base_url):
    pb = _pb()
    resource_id = _required(params, "resource_id")
    q, field_q = _datastore_q(params)
    message = pb.QueryRecordsRequest(resource_id=resource_id, q=q, q_fields=field_q, sort=_str(params, "sort"),
                                     offset=_int(params, "offset", 0), fields=_json_or_list(params, "fields"))
    filters = _filters(params)
    if filters is not None:
        message.filters.CopyFrom(filters)
    limit = _int(params, "limit", None, 0, 32000)
    if limit is not None:
        message.limit = limit
    if "include_total" in params:
        message.include_total = _bool(params, "include_total", True)
    reply = await opendata(request).query_records(message)
    result = {
        "resource_id": reply.resource_id or resource_id,
        "fields": [{"id": f.id, "type": f.type, "info": {"label": f.label, "notes": f.notes}} for f in reply.fields],
        "records": json.loads(reply.records_json or "[]"),
        "limit": reply.limit,
        "offset": reply.offset,
        "_links": {
            "start": f"/api/3/action/datastore_search?resource_id={resource_id}",
            "next": f"/api/3/action/datastore_search?offset={reply.offset + reply.limit}&resource_id={resource_id}",
        },
    }
    if reply.total >= 0:
        result["total"] = reply.total
    return result


@action
async def datastore_search_sql(request, params, base_url):
    """Read-only SQL over published resources (each by its resource id, double-quoted); the opendata service
    checks it with a SQL parser and refuses anything else. Refusals come back as CKAN's {"query": [...]}."""
    sql = _required(params, "sql")
    try:
        reply = await opendata(request).search_sql(sql)
    except RpcFailure as err:
        if err.code != FailureCode.INVALID_ARGUMENT:
            raise
        reasons = [description for _, description in err.violations] or [err.message]
        raise CkanError(409, "Validation Error", reasons[0], {"query": reasons}) from None
    result = {"sql": sql, "records": json.loads(reply.records_json or "[]"),
              "fields": [{"id": f.id, "type": f.type} for f in reply.fields]}
    if reply.records_truncated:
        result["records_truncated"] = True
    return result


@action
async def datastore_info(request, params, base_url):
    """A datastore resource's fields and row count (CKAN 2.10's shape: meta and fields, _id left out)."""
    pb = _pb()
    resource_id = _str(params, "id") or _required(params, "resource_id")
    reply = await opendata(request).query_records(pb.QueryRecordsRequest(resource_id=resource_id, limit=0,
                                                                         include_total=True))
    native = {"int": "int8", "numeric": "float8", "bool": "bool", "text": "text", "date": "text", "timestamp": "text"}
    return {
        "meta": {"id": reply.resource_id or resource_id, "count": reply.total, "table_type": "BASE TABLE",
                 "aliases": []},
        "fields": [{"id": f.id, "type": f.type, "schema": {"native_type": native.get(f.type, "text"), "notnull": False,
                                                           "is_index": False},
                    "info": {"label": f.label, "notes": f.notes}} for f in reply.fields if f.id != "_id"],
    }


@action
async def status_show(request, params, base_url):
    reply = await opendata(request).get_status()
    return {"ckan_version": reply.ckan_version or "2.10.0", "site_title": reply.site_title,
            "site_description": reply.site_description, "site_url": base_url, "extensions": list(reply.extensions),
            "dataset_count": reply.dataset_count, "last_update": _iso(reply.last_update)}


# -- transport ------------------------------------------------------------------------------------------

_FAILURE_TO_CKAN = {
    FailureCode.INVALID_ARGUMENT: (409, "Validation Error"),
    FailureCode.NOT_FOUND: (404, "Not Found Error"),
    FailureCode.PERMISSION_DENIED: (403, "Authorization Error"),
    FailureCode.UNAUTHENTICATED: (403, "Authorization Error"),
    FailureCode.FAILED_PRECONDITION: (409, "Validation Error"),
}


def ckan_response(status: int, help_url: str, *, result: Any = None, error: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"help": help_url, "success": error is None}
    if error is None:
        body["result"] = result
    else:
        body["error"] = error
    return JSONResponse(body, status)


async def _params(request: Request) -> dict:
    params: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        params[key] = value if key not in params else ([*params[key], value] if isinstance(params[key], list) else [params[key], value])
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.form()
            except Exception:
                raise CkanError(400, "Bad request", "Bad request - could not parse the form body") from None
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        elif body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise CkanError(400, "Bad request", "Bad request - JSON Error: could not parse the request body") from None
            if not isinstance(data, dict):
                raise CkanError(400, "Bad request", "Bad request - JSON Error: Request data JSON decoded to "
                                f"{type(data).__name__} but it needs to be a dictionary.")
            params.update(data)
    return params


async def run_action(request: Request, name: str) -> Response:
    help_url = f"{str(request.base_url).rstrip('/')}/api/3/action/help_show?name={name}"
    fn = ACTIONS.get(name)
    if fn is None:
        return ckan_response(400, help_url, error={"__type": "Bad request", "message": f"Bad request - Action name not known: {name}"})
    base_url = str(request.base_url).rstrip("/")
    try:
        params = await _params(request)
        result = await fn(request, params, base_url)
    except CkanError as err:
        return ckan_response(err.status, help_url, error={"__type": err.kind, "message": err.message, **err.fields})
    except RpcFailure as err:
        status, kind = _FAILURE_TO_CKAN.get(err.code, (502, "Internal Error"))
        error: dict[str, Any] = {"__type": kind, "message": err.message if status != 502 else "the opendata service failed"}
        for field, description in err.violations:
            error.setdefault(field, []).append(description)
        if status == 404:
            error["message"] = f"Not found: {err.message}"
        return ckan_response(status, help_url, error=error)
    return ckan_response(200, help_url, result=result)


@router.api_route("/api/3/action/{name}", methods=["GET", "POST"], summary="CKAN Action API (version 3)")
async def action_v3(request: Request, name: str):
    return await run_action(request, name)


@router.api_route("/api/action/{name}", methods=["GET", "POST"], summary="CKAN Action API")
async def action_unversioned(request: Request, name: str):
    return await run_action(request, name)


@downloads_router.get("/catalog.jsonld", summary="The catalogue as DCAT (JSON-LD)")
async def catalog(request: Request):
    jsonld = await opendata(request).get_catalog(str(request.base_url).rstrip("/"))
    return Response(jsonld, media_type="application/ld+json")


@downloads_router.get("/dataset/{name}/download/{filename}", summary="Download a dataset as CSV or GeoJSON")
async def download(request: Request, name: str, filename: str):
    pb = _pb()
    lower = filename.lower()
    if lower.endswith(".csv"):
        fmt = pb.EXPORT_FORMAT_CSV
    elif lower.endswith((".geojson", ".json")):
        fmt = pb.EXPORT_FORMAT_GEOJSON
    else:
        return JSONResponse({"detail": "download as .csv or .geojson"}, 404)
    chunks = opendata(request).export_dataset(name, fmt)
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        return JSONResponse({"detail": f"dataset {name!r} has nothing to export"}, 404)
    except RpcFailure as err:
        status = {FailureCode.NOT_FOUND: 404, FailureCode.INVALID_ARGUMENT: 400}.get(err.code, 502)
        return JSONResponse({"detail": err.message if status != 502 else "the opendata service failed"}, status)

    async def body():
        yield first.chunk
        async for item in chunks:
            yield item.chunk

    headers = {"Content-Disposition": f'attachment; filename="{first.filename or filename}"'}
    return StreamingResponse(body(), media_type=first.content_type or "application/octet-stream", headers=headers)
