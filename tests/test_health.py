from __future__ import annotations

import httpx


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_revision(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_documents_the_catalogue(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/sections", "/api/v1/zones", "/api/v1/stations", "/api/v1/parameters"):
        assert path in paths
