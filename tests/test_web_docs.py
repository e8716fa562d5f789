"""/docs and /redoc work offline: every script, style sheet and icon is the service's own."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_only_same_origin_assets(server: str, page: str) -> None:
    with httpx.Client(base_url=server, trust_env=False, timeout=30) as client:
        response = client.get(page)
        assert response.status_code == 200
        urls = [a or b for a, b in ASSET.findall(response.text)]
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {url} from elsewhere"
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
        assert "cdn.jsdelivr" not in response.text
        assert "fonts.googleapis" not in response.text


def test_swagger_does_not_ask_the_public_validator(server: str) -> None:
    text = httpx.get(f"{server}/docs", trust_env=False).text
    assert '"validatorUrl": null' in text
