"""Each API's own error format, attached to its routers.

The gateway is one FastAPI app of APIRouters, one or more per API, not of mounted sub-apps: sub-apps would each
publish their own OpenAPI document (the portal's /docs and the schemathesis test read the single /openapi.json
that lists Open311, CKAN, SensorThings, GTFS-rt and the portal's API together), would report their routes'
templates relative to their mount point in the `http.server.duration` metric (`/v2/services.{fmt}` instead of
`/open311/v2/services.{fmt}`), and cannot share the root with other APIs (CKAN's `/catalog.jsonld` and
`/dataset/…` sit beside the portal's `/`). So each router gets a route class (`answering`) that turns the
exceptions of its routes into that API's error body, as app.exception_handler does for a whole app; the app
keeps one fallback for what no route saw (an unknown path, a method not allowed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from kota_gateway.adapters.errors import FailureCode, RpcFailure

log = logging.getLogger(__name__)

# A handler is only called with an instance of the class it is registered for (see answering), which a
# Mapping[type[E], Callable[[Request, E], ...]] cannot say for each E: the exception is typed Any.
Handler = Callable[[Request, Any], Response]
RETRY_LATER = {"Retry-After": "5"}

# the portal's JSON API and the plain JSON endpoints (catalogue, downloads)
HTTP_STATUS_OF = {
    FailureCode.INVALID_ARGUMENT: 400,
    FailureCode.NOT_FOUND: 404,
    FailureCode.FAILED_PRECONDITION: 409,
    FailureCode.ALREADY_EXISTS: 409,
    FailureCode.PERMISSION_DENIED: 403,
    FailureCode.UNAUTHENTICATED: 401,
    FailureCode.RESOURCE_EXHAUSTED: 429,
    FailureCode.OUT_OF_RANGE: 400,
}


def answering(handlers: Mapping[type[Exception], Handler]) -> type[APIRoute]:
    """A route class whose routes answer the exceptions in `handlers` (looked up along the exception's classes,
    nearest first) with the handler's response; any other exception goes on to the app."""

    class Route(APIRoute):
        def get_route_handler(self):
            handle = super().get_route_handler()

            async def route_handler(request: Request) -> Response:
                try:
                    return await handle(request)
                except Exception as exc:
                    for kind in type(exc).__mro__:
                        if kind in handlers:
                            return handlers[kind](request, exc)
                    raise

            return route_handler

    return Route


def service_failed(exc: RpcFailure, status: int) -> RpcFailure:
    """A 5xx failure of a service, logged here; the client learns only that the service failed."""
    if status < 500:
        return exc
    log.error("%s failed with %s: %s", exc.service, exc.code.name, exc.message)
    return RpcFailure(exc.service, exc.code, f"the {exc.service} service failed")


def plain_failure(request: Request, exc: RpcFailure) -> Response:
    status = HTTP_STATUS_OF.get(exc.code, 502)
    return JSONResponse({"detail": service_failed(exc, status).message}, status)


def validation_messages(errors) -> str:
    return "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in errors)
