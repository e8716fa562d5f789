"""The ASGI application: routers, error handling, and the resources its lifespan owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from app import health
from app.catalogue.routes import router as catalogue_router
from app.contacts.routes import router as contacts_router
from app.dashboard.routes import router as dashboard_router
from app.deps import AdminDep
from app.errors import install_error_handler
from app.incidents.routes import ack_router
from app.incidents.routes import router as incidents_router
from app.ingest.routes import router as ingest_router
from app.limits import BodyLimit
from app.reports.routes import router as reports_router
from app.rules.routes import router as rules_router
from app.stations.routes import router as stations_router
from core.db import make_engine, make_sessionmaker
from core.settings import Settings, get_settings

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError("no database: set RIVERWATCH_DATABASE_URL or start via the CLI")
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.jobs = None
        if settings.admin_token is None:
            log.warning("RIVERWATCH_ADMIN_TOKEN unset: the admin API is open to anyone")
        try:
            if settings.scheduler:
                from app.scheduler import Jobs  # the jobs pull in the delivery stack

                app.state.jobs = Jobs(settings, app.state.sessionmaker)
                app.state.jobs.start()
            yield
        finally:
            if app.state.jobs is not None:
                app.state.jobs.shutdown()
            engine.dispose()

    app = FastAPI(
        title="riverwatch",
        summary="Water-quality monitoring and alerting for Wenzhou's key river sections",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handler(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        paths=(f"{API_PREFIX}/readings", f"{API_PREFIX}/contacts/import"),
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(catalogue_router)
    api.include_router(stations_router)
    api.include_router(ingest_router)
    api.include_router(dashboard_router)
    api.include_router(reports_router)
    # Reads of the plan, stations and water quality are public; who is told what is not.
    api.include_router(contacts_router, dependencies=[AdminDep])
    api.include_router(incidents_router, dependencies=[AdminDep])
    api.include_router(rules_router, dependencies=[AdminDep])
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(ack_router)
    return app
