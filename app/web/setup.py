"""Everything a browser opens: the pages, their static files, the offline API docs."""

from __future__ import annotations

from fastapi import FastAPI

from app.web.docs import install_docs
from app.web.routes import HERE, router
from app.web.static_files import CachedStatic


def install_web(app: FastAPI) -> None:
    install_docs(app)
    app.mount("/static/web", CachedStatic(directory=HERE / "static"), name="web-static")
    app.include_router(router)
