"""The ASGI application: routers, error handling, and the resources its lifespan owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from app import health, metrics
from app.access import oidc as access_oidc
from app.access import web as access_web
from app.access.deps import SESSION_COOKIE
from app.access.routes import router as access_router
from app.catalogue.routes import router as catalogue_router
from app.contacts.routes import router as contacts_router
from app.dashboard.routes import router as dashboard_router
from app.errors import install_error_handlers
from app.hj212.routes import admin_router as hj212_admin_router
from app.hj212.routes import router as hj212_router
from app.incidents.routes import ack_router
from app.incidents.routes import router as incidents_router
from app.ingest.routes import ServeReadings
from app.ingest.routes import router as ingest_router
from app.ingest.schemas import BatchIn
from app.middleware import RequestContext, RequestGuard, RoutineAccess
from app.openapi import document_errors
from app.reports.routes import router as reports_router
from app.rules.routes import router as rules_router
from app.stations.routes import router as stations_router
from app.upstream.routes import router as upstream_router
from app.web.setup import install_web
from core import logs
from core.db import make_engine, make_sessionmaker
from core.reads import ReadRouting
from core.settings import Environment, Settings, get_settings

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)
READINGS = f"{API_PREFIX}/readings"
ROUTINE_ACCESS = RoutineAccess(READINGS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # a worker process of `serve --workers N`
        logs.configure_from(settings)
    logging.getLogger("uvicorn.access").addFilter(ROUTINE_ACCESS)  # added once: one object

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError("no database: set RIVERWATCH_DATABASE_URL or start via the CLI")
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        replica = None
        if settings.database_replica_url is not None:
            # A replica that does not answer within 2 s is passed over (core.reads).
            replica = make_engine(
                settings.database_replica_url,
                pool_size=settings.db_pool_size,
                connect_timeout_s=2,
            )
            app.state.reads = ReadRouting(
                make_sessionmaker(replica), settings.replica_max_staleness_s
            )
        app.state.jobs = None
        if settings.admin_token is None:
            log.warning("RIVERWATCH_ADMIN_TOKEN unset: the API is open to anyone as an admin")
        hj212 = None
        try:
            if settings.scheduler:
                from app.scheduler import Jobs  # the jobs pull in the delivery stack

                app.state.jobs = Jobs(settings, app.state.sessionmaker)
                app.state.jobs.start()
            if settings.hj212_port is not None:
                from app.hj212.listener import start_for_app

                hj212 = await start_for_app(app, settings)
            yield
        finally:
            if hj212 is not None:
                await hj212.close()
            if app.state.jobs is not None:
                app.state.jobs.shutdown()
            engine.dispose()
            if replica is not None:
                replica.dispose()

    app = FastAPI(
        title="riverwatch",
        summary="Water-quality monitoring and alerting for Wenzhou's key river sections",
        version="0.1.0",
        lifespan=lifespan,
        # Served by app.web from files of its own: FastAPI's pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.reads = None
    install_error_handlers(app)
    bulk = (f"{API_PREFIX}/readings", f"{API_PREFIX}/contacts/import")
    # add_middleware wraps: the last added runs first.
    app.add_middleware(
        RequestGuard,
        limit_for=lambda path: (
            settings.max_body_bytes if path.startswith(bulk) else settings.max_json_body_bytes
        ),
        # Open to anonymous writes only where app.access lets anyone act as admin: no
        # admin token outside production.
        needs_credentials=lambda _method, path: (
            path.startswith(f"{API_PREFIX}/readings")
            or (
                path.startswith(f"{API_PREFIX}/")
                and (settings.admin_token is not None or settings.env is Environment.PRODUCTION)
            )
        ),
        # A batch refuses a bad item alone (its codes are checked against the catalogue).
        nul_allowed=lambda path: path.startswith(f"{API_PREFIX}/readings"),
        session_cookie=SESSION_COOKIE,
    )
    app.add_middleware(RequestContext)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(catalogue_router)
    api.include_router(stations_router)
    api.include_router(ingest_router)
    api.include_router(dashboard_router)
    # Each operation declares the permission it needs (app.access.policy).
    api.include_router(contacts_router)
    api.include_router(upstream_router)
    api.include_router(incidents_router)
    api.include_router(rules_router)
    api.include_router(access_router)
    api.include_router(hj212_router)
    api.include_router(hj212_admin_router)
    api.include_router(reports_router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(ack_router)
    access_web.install(app)
    app.include_router(access_oidc.router)
    install_web(app)
    # Stations' posts are most requests: first in the routing table, matched before FastAPI
    # walks the included routers (as it does per request), and served without its request
    # handling. The schema documents the included declaration (post_readings).
    app.router.routes.insert(0, Route(READINGS, ServeReadings(), methods=["POST"]))
    document_errors(app, body_models=[BatchIn])
    return app
