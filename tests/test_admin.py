"""The admin API's token, and the settings production refuses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session

from alerts.smsgw.serve import serving
from app.deps import get_session
from app.main import create_app
from core.settings import Environment, Settings

TOKEN = "an-admin-token-of-some-length"


@pytest.fixture
def guarded(database_url: str, session: Session) -> Iterator[str]:
    app = create_app(
        Settings(
            env=Environment.TEST,
            database_url=database_url,
            scheduler=False,
            admin_token=SecretStr(TOKEN),
        )
    )

    def test_session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = test_session
    with serving(app, lifespan="on") as url:
        yield url


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/contacts",
        "/api/v1/incidents",
        "/api/v1/rules",
        "/api/v1/mutes",
        "/api/v1/notifications",
    ],
)
def test_admin_endpoints_need_the_token(guarded: str, seeded: Session, path: str) -> None:
    with httpx.Client(base_url=guarded, trust_env=False) as http:
        assert http.get(path).status_code == 401
        assert http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_public_reads_need_no_token(guarded: str, seeded: Session) -> None:
    with httpx.Client(base_url=guarded, trust_env=False) as http:
        for path in ("/api/v1/sections", "/api/v1/status/sections", "/readyz"):
            assert http.get(path).status_code == 200, path


def test_production_refuses_unsafe_settings() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(
            env=Environment.PRODUCTION,
            secret_key=SecretStr("x" * 32),
            sms_url="https://sms.example/send",
        )
    message = str(refused.value)
    assert "ADMIN_TOKEN" in message
    assert "PUBLIC_URL" in message
    assert "SMS_API_KEY" in message
    assert Settings(
        env=Environment.PRODUCTION,
        secret_key=SecretStr("x" * 32),
        admin_token=SecretStr(TOKEN),
        public_url="https://rw.example.cn",
    )
