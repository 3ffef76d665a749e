"""The FastAPI application: an app factory over :class:`AdServer`.

Nothing is created at import time: ``create_app(settings)`` builds the server (store,
counters, policy) so tests can hand in SQLite and a fixed signing key, and ``adloom serve``
runs the same factory under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from adloom import __version__
from adloom.errors import AdloomError
from adloom.serving.api import decide, events, manage, rtb, vast
from adloom.serving.api.body import add_schemas
from adloom.serving.api.decide import json_response
from adloom.serving.api.deps import Server
from adloom.serving.engine import AdServer
from adloom.serving.settings import ServeSettings

log = logging.getLogger(__name__)


def validation_message(errors: list[Any]) -> tuple[int, str]:
    """One line naming the first problem; malformed JSON is a 400, the rest 422."""
    err = errors[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    if err.get("type") == "json_invalid":
        ctx = err.get("ctx", {})
        return 400, f"malformed JSON: {ctx.get('error', err.get('msg'))}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return 422, f"{loc}: {msg}{more}"


def create_app(settings: ServeSettings | None = None, *, server: AdServer | None = None) -> FastAPI:
    """The ad server app; pass ``server`` to reuse one built elsewhere (tests, demo)."""
    settings = settings or (server.settings if server is not None else ServeSettings())
    srv = server or AdServer.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        srv.start()
        # Everything built so far (framework, models, the catalog) lives as long as the
        # process. Freezing it keeps the collector's full passes, otherwise tens of
        # milliseconds with the whole request path stalled, to what requests allocate.
        gc.collect()
        gc.freeze()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(srv.settings.switch_interval_ms / 1000.0)
        task = asyncio.create_task(_refresh(srv))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(srv.close)
            sys.setswitchinterval(switch)
            gc.unfreeze()  # an app built again in this process (tests) starts afresh

    app = FastAPI(
        title="adloom ad server",
        version=__version__,
        description="Real-time decisions over verified creatives: VAST 4, OpenRTB 2.6, "
        "signed tracking events, contextual bandits, per-advertiser management.",
        lifespan=lifespan,
    )
    app.state.server = srv

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = validation_message(list(exc.errors()))
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(AdloomError)
    async def _adloom(request: Request, exc: AdloomError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    app.include_router(decide.router)
    app.include_router(rtb.router)
    app.include_router(vast.router)
    app.include_router(events.router)
    app.include_router(manage.router)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_schemas(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["ops"])
    def health(server: Server) -> dict[str, Any]:
        """Liveness plus what degrades: the store, the catalog and the event buffer."""
        return {
            "status": "ok",
            "store": server.store.ping(),
            "catalog_stale": server.catalog.stale,
            "events_pending": server.log.pending(),
            "prerender_pending": server.prerender.pending() if server.prerender else 0,
        }

    @app.post("/v1/noop", include_in_schema=False)
    async def noop(request: Request) -> Response:
        """The framework's own cost (benchmark ceiling): read the body, answer."""
        await request.body()
        return json_response({})

    @app.get(
        "/media/{advertiser_id}/{creative_id}.mp4",
        tags=["serving"],
        response_class=FileResponse,
        responses={404: {"description": "Unknown creative"}},
    )
    def media(advertiser_id: str, creative_id: str, server: Server) -> Response:
        """The creative's video file (players fetch the VAST MediaFile from here)."""
        rec = server.catalog.snapshot.creatives.get((advertiser_id, creative_id))
        if rec is None:
            return JSONResponse({"detail": "creative not found"}, status_code=404)
        return FileResponse(rec.media_path, media_type=rec.creative.mime_type)

    return app


async def _refresh(server: AdServer) -> None:
    while True:
        await asyncio.sleep(server.settings.catalog_refresh_s)
        try:
            await asyncio.to_thread(server.catalog.refresh, if_changed=True)
        except Exception:  # keep refreshing whatever one attempt did
            log.exception("catalog refresh failed")
