from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from core.settings import Environment, Settings


def test_reads_the_riverwatch_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVERWATCH_PORT", "9001")
    monkeypatch.setenv("RIVERWATCH_DATABASE_URL", "postgresql://db/x")
    settings = Settings()
    assert settings.port == 9001
    assert settings.database_url == "postgresql://db/x"


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(env=Environment.PRODUCTION)
    assert Settings(
        env=Environment.PRODUCTION,
        secret_key=SecretStr("s3cret-enough"),
        admin_token=SecretStr("a-long-enough-admin-token"),
        public_url="https://riverwatch.example.cn",
    )
    assert Settings(env=Environment.DEVELOPMENT)


def test_production_refuses_a_provider_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import SmsProvider

    safe = {
        "env": Environment.PRODUCTION,
        "secret_key": SecretStr("s3cret-enough"),
        "admin_token": SecretStr("a-long-enough-admin-token"),
        "public_url": "https://riverwatch.example.cn",
    }
    with pytest.raises(ValidationError, match="SMS_ACCESS_KEY_ID"):
        Settings(**safe, sms_provider=SmsProvider.ALIYUN)
    with pytest.raises(ValidationError, match="SMS_APP_ID"):
        Settings(
            **safe,
            sms_provider=SmsProvider.TENCENT,
            sms_access_key_id="id",
            sms_access_key_secret=SecretStr("key"),
        )
    monkeypatch.setenv("RIVERWATCH_SMS_TEMPLATES", '{"alert.class_v": "SMS_1"}')
    assert Settings(**safe).sms_templates == {"alert.class_v": "SMS_1"}
