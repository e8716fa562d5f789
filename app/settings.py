"""Configuration: one object, read from RIVERWATCH_* environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class TimescaleMode(StrEnum):
    AUTO = "auto"  # use it when the server has it preloaded
    ON = "on"  # refuse to migrate without it
    OFF = "off"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RIVERWATCH_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    # Unset: the CLI runs an embedded PostgreSQL in data_dir for the life of the process.
    database_url: str | None = None
    data_dir: Path = Path(".riverwatch")
    timescaledb: TimescaleMode = TimescaleMode.AUTO
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)

    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = Field(default=10, ge=1)

    # Ingest limits and rules.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch_times: int = Field(default=5000, ge=1)
    future_tolerance_s: int = Field(default=300, ge=0)
    # Readings older than this when they arrive are backfill: stored, never alerted on.
    late_horizon_hours: float = Field(default=24, gt=0)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if (
            self.env is Environment.PRODUCTION
            and self.secret_key.get_secret_value() == PLACEHOLDER_SECRET
        ):
            raise ValueError(
                "RIVERWATCH_SECRET_KEY is the placeholder; set a real secret in production"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
