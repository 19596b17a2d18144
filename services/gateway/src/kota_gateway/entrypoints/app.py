"""The gateway's ASGI application, wired in one place: every HTTP API over the services' typed clients, and the
web portal.

One FastAPI app of APIRouters by API, each router answering its own errors in its API's format (see
entrypoints/errors.py for why routers rather than mounted sub-apps):

    Open311 GeoReport v2   /open311/v2/…, /open311/discovery.{fmt}      entrypoints/open311.py
    CKAN Action API        /api/3/action/…, /api/action/…                entrypoints/ckan.py (router)
    DCAT and downloads     /catalog.jsonld, /dataset/{name}/download/…   entrypoints/ckan.py (downloads_router)
    SensorThings v1.1      /sta/v1.1/…                                   entrypoints/sensorthings.py
    GTFS-realtime          /gtfs-rt/vehicle-positions.pb                 entrypoints/gtfs_rt.py
    the portal's JSON API  /api/v1/…, /api/v1/staff/…                    entrypoints/portal.py
    chat and SMS webhooks  /webhooks/whatsapp, /webhooks/telegram, /webhooks/sms   entrypoints/webhooks.py
    e-Musrenbang           /api/v1/musrenbang/…                           entrypoints/musrenbang.py
    inter-city cooperation /api/v1/collab/…                               entrypoints/collab.py
    pages                  /, /docs, /asyncapi, /healthz, /readyz, /static/…   entrypoints/pages.py
    citizens' photos       /media/photos/…, POST /api/v1/photos          entrypoints/media.py
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from kota_common.photos import photos_from_settings
from kota_common.reference import AreaDirectory
from kota_gateway.adapters.collab import CollabClient
from kota_gateway.adapters.complaints import ComplaintsClient
from kota_gateway.adapters.musrenbang import MusrenbangClient
from kota_gateway.adapters.notifications import NotificationsClient
from kota_gateway.config import GatewaySettings
from kota_gateway.entrypoints import ckan, collab, gtfs_rt, media, musrenbang, open311, pages, portal, sensorthings, webhooks
from kota_gateway.httputil import RateLimitMiddleware, error_for_path
from kota_gateway.service_layer.complaints import WatchBudget
from kota_gateway.service_layer.dashboard import ComplaintSummary

STATIC_DIR = pages.STATIC_DIR


def areas_tree(areas: AreaDirectory) -> list[dict]:
    return [
        {
            "code": k.code,
            "name": k.name,
            "kind": k.kind,
            "lat": k.lat,
            "lon": k.lon,
            "kecamatan": [
                {
                    "code": kc.code,
                    "name": kc.name,
                    "lat": kc.lat,
                    "lon": kc.lon,
                    "kelurahan": [{"code": kl.code, "name": kl.name, "postcode": kl.postcode} for kl in kc.kelurahan],
                }
                for kc in k.kecamatan
            ],
        }
        for k in areas.kota()
    ]


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.complaints = ComplaintsClient(settings.complaints_address, settings.rpc_timeout_s, settings.rpc_retries)
        state.sensors, state.opendata = _optional_clients(settings)
        state.musrenbang = MusrenbangClient(settings.musrenbang_address, settings.rpc_timeout_s, settings.rpc_retries)
        state.collab = CollabClient(settings.collab_address, settings.rpc_timeout_s, settings.rpc_retries,
                                    settings.common.auth_secret)
        state.notifications = NotificationsClient(settings.notifications_address, settings.rpc_timeout_s,
                                                  settings.rpc_retries, settings.common.auth_secret)
        state.clients = {c.name: c for c in (state.complaints, state.sensors, state.opendata, state.musrenbang,
                                             state.collab, state.notifications) if c is not None}
        state.complaint_summary = ComplaintSummary(state.complaints)
        state.watch_budget = WatchBudget(settings.max_watch_streams)
        # WatchProposal streams hold workers of the musrenbang service: a budget of their own
        state.musrenbang_watch_budget = WatchBudget(settings.max_watch_streams)
        yield
        for client in state.clients.values():
            await client.close()

    app = FastAPI(
        title="Kota gateway",
        version="1.0.0",
        description="Open311 GeoReport v2, the portal's JSON API and the web portal of the Kota smart-city platform.",
        lifespan=lifespan,
        docs_url=None,  # served by pages.docs from vendored Swagger UI files: the portal works with no internet
        redoc_url=None,
        # OpenTelemetry's ASGI middleware (see __main__) makes the server span. FastAPI's own telemetry would add a
        # second one per request, several per operation, and log validation failures with their input values.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.areas_tree = areas_tree(AreaDirectory.load_jakarta())
    app.state.photos = photos_from_settings(settings.photos)

    app.include_router(open311.router)
    app.include_router(open311.discovery_router)
    app.include_router(portal.router)
    app.include_router(portal.staff_router)
    app.include_router(musrenbang.router)
    app.include_router(musrenbang.staff_router)
    app.include_router(collab.router)
    app.include_router(ckan.router)
    app.include_router(ckan.downloads_router)
    app.include_router(sensorthings.router)
    app.include_router(gtfs_rt.router)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    app.include_router(media.upload_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def _unrouted(request: Request, exc: StarletteHTTPException):
        """What no route answered (an unknown path, a method not allowed), in the format of the API the path
        belongs to."""
        path = request.url.path
        if path.startswith("/api/v1/") or not path.startswith(("/open311/", "/api/3/", "/api/action/", "/sta/")):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))
        return error_for_path(path, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.middleware("http")
    async def trace_id_header(request: Request, call_next):
        response = await call_next(request)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            response.headers["X-Trace-Id"] = format(ctx.trace_id, "032x")
        return response

    # a photo upload (Open311's media, the portal's /api/v1/photos) may be a photo's size larger than the limit
    app.add_middleware(media.BodyLimits, limit=settings.max_body_bytes, photo_bytes=settings.photos.max_bytes)
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst)
    return app


def _optional_clients(settings: GatewaySettings):
    """The sensors and opendata clients, if their stubs exist in this build; none is required to start."""
    args = (settings.rpc_timeout_s, settings.rpc_retries)
    try:
        from kota_gateway.adapters.sensors import SensorsClient

        sensors = SensorsClient(settings.sensors_address, *args)
    except ImportError:
        sensors = None
    try:
        from kota_gateway.adapters.opendata import OpenDataClient

        opendata = OpenDataClient(settings.opendata_address, *args)
    except ImportError:
        opendata = None
    return sensors, opendata
