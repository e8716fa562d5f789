from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from alerts.channels.webhook import new_secret
from alerts.smsgw.app import create_app
from alerts.smsgw.serve import serving

API_KEY = "test-key"
WEBHOOK_SECRET = new_secret()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy configured in the environment must not intercept 127.0.0.1.
    with httpx.Client(trust_env=False) as http:
        yield http


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[str]:
    with serving(create_app(API_KEY, webhook_secrets=[WEBHOOK_SECRET])) as url:
        yield url


@pytest.fixture
def gateway(gateway_server: str, client: httpx.Client) -> str:
    """Base URL of the real stand-in, served by uvicorn, with nothing recorded yet."""
    client.post(f"{gateway_server}/reset").raise_for_status()
    return gateway_server
