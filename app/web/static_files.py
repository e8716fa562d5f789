"""Static files a browser may reuse for a few minutes without asking again: otherwise each
page load revalidates every script, one round trip per module import."""

from __future__ import annotations

from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

MAX_AGE_S = 300


class CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
        return response
