"""The gateway's ASGI application: every HTTP API over the services' gRPC APIs, and the web portal."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib import resources

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException

from kota.complaints.v1 import complaints_pb2_grpc
from kota_common.reference import AreaDirectory
from kota_gateway.adapters.backends import Backend, RpcFailure, ServiceUnavailable
from kota_gateway.config import GatewaySettings
from kota_gateway.entrypoints import api, ckan, open311, sensors
from kota_gateway.httputil import BodyLimitMiddleware, RateLimitMiddleware, error_for_path, open311_errors

log = logging.getLogger(__name__)

_HTTP_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.OUT_OF_RANGE: 400,
}

STATIC_DIR = resources.files("kota_gateway") / "static"


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
        app.state.complaints = Backend(
            "complaints", settings.complaints_address, complaints_pb2_grpc.ComplaintsServiceStub,
            settings.rpc_timeout_s, settings.rpc_retries,
        )
        app.state.backends = {"complaints": app.state.complaints}
        for extra in _optional_backends(settings):
            app.state.backends[extra.name] = extra
            setattr(app.state, extra.name, extra)
        yield
        for backend in app.state.backends.values():
            await backend.close()

    app = FastAPI(
        title="Kota gateway",
        version="1.0.0",
        description="Open311 GeoReport v2, the portal's JSON API and the web portal of the Kota smart-city platform.",
        lifespan=lifespan,
        docs_url=None,  # served below from vendored Swagger UI files: the portal works with no internet
        redoc_url=None,
        # OpenTelemetry's ASGI middleware (see __main__) makes the server span. FastAPI's own telemetry would add a
        # second one per request, several per operation, and log validation failures with their input values.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.areas_tree = areas_tree(AreaDirectory.load_jakarta())

    app.include_router(open311.router)
    app.include_router(open311.discovery_router)
    app.include_router(api.router)
    app.include_router(api.staff_router)
    app.include_router(ckan.router)
    app.include_router(sensors.router)
    app.include_router(sensors.dashboard_router)
    _install_error_handlers(app)

    @app.middleware("http")
    async def trace_id_header(request: Request, call_next):
        response = await call_next(request)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            response.headers["X-Trace-Id"] = format(ctx.trace_id, "032x")
        return response

    @app.get("/docs", include_in_schema=False)
    async def docs():
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Kota gateway — API",
            swagger_js_url="/static/vendor/swagger-ui-5.35.0-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui-5.35.0.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Which services the gateway can reach")
    async def readyz():
        states = {name: await b.healthy() for name, b in app.state.backends.items()}
        ready = states.get("complaints", False)
        return JSONResponse({"ready": ready, "services": states}, 200 if ready else 503)

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(STATIC_DIR / "index.html"), media_type="text/html; charset=utf-8")

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst)
    return app


def _optional_backends(settings: GatewaySettings) -> list[Backend]:
    """Backends of services whose stubs exist in this build (sensors, opendata); none is required to start."""
    found = []
    try:
        from kota.sensors.v1 import sensors_pb2_grpc

        stub = next(getattr(sensors_pb2_grpc, n) for n in dir(sensors_pb2_grpc) if n.endswith("Stub"))
        found.append(Backend("sensors", settings.sensors_address, stub, settings.rpc_timeout_s, settings.rpc_retries))
    except (ImportError, StopIteration):
        pass
    try:
        from kota.opendata.v1 import opendata_pb2_grpc

        stub = next(getattr(opendata_pb2_grpc, n) for n in dir(opendata_pb2_grpc) if n.endswith("Stub"))
        found.append(Backend("opendata", settings.opendata_address, stub, settings.rpc_timeout_s, settings.rpc_retries))
    except (ImportError, StopIteration):
        pass
    return found


def _install_error_handlers(app: FastAPI) -> None:
    open311.install_error_handlers(app)
    sensors.install_error_handlers(app)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable):
        return error_for_path(request.url.path, 503, str(exc), {"Retry-After": "5"})

    @app.exception_handler(RpcFailure)
    async def _failure(request: Request, exc: RpcFailure):
        status = _HTTP_OF.get(exc.code, 502)
        path = request.url.path
        if status == 502:  # an internal failure of the service: its details are not the client's business
            log.error("%s failed with %s: %s", exc.service, exc.code.name, exc.message)
            exc = RpcFailure(exc.service, exc.code, f"the {exc.service} service failed")
        if path.startswith("/open311/"):
            err = open311.failure_to_open311(exc)
            return open311_errors(err.status, [(err.status, d) for d in err.descriptions], path.endswith(".xml"))
        if path.startswith("/api/v1/"):
            body = {"detail": exc.message, "errors": [{"field": f, "description": d} for f, d in exc.violations]}
            return JSONResponse(body, status)
        return error_for_path(path, status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        path = request.url.path
        if path.startswith("/open311/"):
            errors = exc.errors()
            if any(e.get("loc", [None])[0] == "path" for e in errors):
                return open311_errors(404, [(404, f"no such resource: {path}")], path.endswith(".xml"))
            descriptions = [f"{e['loc'][-1]}: {e['msg']}" for e in errors]
            return open311_errors(400, [(400, d) for d in descriptions], path.endswith(".xml"))
        if not path.startswith("/api/v1/"):
            return error_for_path(path, 400, "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors()))
        return JSONResponse({"detail": _jsonable(exc.errors())}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        path = request.url.path
        if path.startswith("/api/v1/") or not path.startswith(("/open311/", "/api/3/", "/api/action/", "/sta/")):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))
        return error_for_path(path, exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def _jsonable(errors: list[dict]) -> list[dict]:
    return [{k: (v if k != "ctx" else {ck: str(cv) for ck, cv in v.items()}) for k, v in e.items() if k != "url"} for e in errors]
