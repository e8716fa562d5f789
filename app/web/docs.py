"""/docs and /redoc with their scripts served by riverwatch itself, not by a CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr, so they are blank on a
bureau network without internet. The fastapi-offline wheel ships both bundles (and a
favicon); only its static folder is used here, mounted under /static/docs.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from app.web.static_files import CachedStatic

DOCS_STATIC = Path(fastapi_offline.__file__).parent / "static"
DOCS_PREFIX = "/static/docs"
# Swagger UI asks validator.swagger.io to badge any spec not served from localhost.
SWAGGER_PARAMETERS = {"validatorUrl": None}
# ReDoc's sidebar shows a logo from cdn.redoc.ly (hidden if it fails to load): the browser
# is told to load nothing from elsewhere. Both pages start from an inline script and
# inject styles; ReDoc runs its search in a blob: worker.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'none'"
)


def _offline(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CSP
    return response


def install_docs(app: FastAPI) -> None:
    """Adds /docs and /redoc; the app must be made with docs_url=None, redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(DOCS_PREFIX, CachedStatic(directory=DOCS_STATIC), name="docs-static")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request) + DOCS_PREFIX
        return _offline(
            get_swagger_ui_html(
                openapi_url=root(request) + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root(request) + oauth2_redirect,
                swagger_js_url=f"{base}/swagger-ui-bundle.js",
                swagger_css_url=f"{base}/swagger-ui.css",
                swagger_favicon_url=f"{base}/favicon.png",
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        base = root(request) + DOCS_PREFIX
        return _offline(
            get_redoc_html(
                openapi_url=root(request) + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{base}/redoc.standalone.js",
                redoc_favicon_url=f"{base}/favicon.png",
                with_google_fonts=False,
            )
        )
