"""Configuration: one object, read from RIVERWATCH_* environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

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


class SmsProvider(StrEnum):
    HTTP = "http"  # the generic gateway (alerts.channels.sms), and the demo's stand-in
    ALIYUN = "aliyun"
    TENCENT = "tencent"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RIVERWATCH_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    # Unset: the CLI runs an embedded PostgreSQL in data_dir for the life of the process.
    database_url: str | None = None
    data_dir: Path = Path(".riverwatch")
    timescaledb: TimescaleMode = TimescaleMode.AUTO
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    # The bootstrap admin's bearer token (app.access): creates the first admin user, and
    # stays as a break-glass. Unset in development and tests: the API is open to anyone as
    # an admin, and `serve` says so.
    admin_token: SecretStr | None = None

    # Access (app.access): anonymous reads of what the national platform also publishes
    # (sections, zones, parameters, classes); off: every read needs a signed-in user.
    public_reads: bool = True
    session_ttl_hours: float = Field(default=12, gt=0)
    api_token_ttl_days: float = Field(default=90, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    # First lockout after login_max_failures; each further failure doubles it (max a day).
    login_lockout_s: float = Field(default=300, gt=0)
    # Single sign-on with the bureau's OpenID Connect provider (app.access.oidc): on when
    # issuer, client id and secret are all set. Discovery is <issuer>/.well-known/
    # openid-configuration; register <public_url>/auth/oidc/callback as the redirect URI.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # The ID token claim that must equal a pre-provisioned user's username (an email only
    # when the provider says email_verified).
    oidc_username_claim: Literal["email", "preferred_username", "sub"] = "email"
    oidc_scope: str = "openid email profile"

    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = Field(default=10, ge=1)
    # A streaming replica of the database: dashboard, report and series reads go to it
    # while it is at most replica_max_staleness_s behind, else to the primary. Unset: none.
    database_replica_url: str | None = None
    replica_max_staleness_s: float = Field(default=30, ge=0, allow_inf_nan=False)

    # Request limits: batches and file imports may be large; every other body is small.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Ingest rules.
    max_batch_times: int = Field(default=5000, ge=1)
    future_tolerance_s: int = Field(default=300, ge=0)
    # Readings older than this when they arrive are backfill: stored, never alerted on.
    late_horizon_hours: float = Field(default=24, gt=0)

    # Alerting.
    # Where people reach this service: ack links in messages point here.
    public_url: str = "http://127.0.0.1:8000"
    ack_link_ttl_hours: float = Field(default=72, gt=0)
    # Unset: no SMS is sent (messages for SMS stay pending and show in the outbox).
    sms_url: str | None = None
    sms_api_key: SecretStr = SecretStr("")
    sms_sign: str = "水质预警"
    # aliyun / tencent: sms_url overrides the provider's public endpoint.
    sms_provider: SmsProvider = SmsProvider.HTTP
    sms_access_key_id: str = ""  # Aliyun AccessKey ID, Tencent SecretId
    sms_access_key_secret: SecretStr = SecretStr("")  # AccessKey secret, SecretKey
    sms_app_id: str = ""  # Tencent SmsSdkAppId
    sms_region: str | None = None  # default cn-hangzhou (Aliyun), ap-guangzhou (Tencent)
    # Message kind (alert.class_v, …) -> approved template code (Aliyun) or id (Tencent).
    sms_templates: dict[str, str] = {}
    sms_param_max_chars: int = Field(default=35, ge=2)
    # After a lost answer: how long a message absent from the provider's records may
    # still turn up there before it is sent again.
    sms_lookup_grace_s: float = Field(default=300, ge=0)
    # Our own per-number caps, at or below the provider account's flow control.
    sms_per_number_per_minute: int = Field(default=2, ge=1)
    sms_per_number_per_day: int = Field(default=40, ge=1)
    receipts_interval_s: float = Field(default=60, gt=0)
    # Asia/Shanghai local time; non-critical SMS wait for its end. Empty: none.
    quiet_hours: str = "22:00-07:00"
    # Delay after opening before tier 1, 2, 3… of a section's contacts are told, unless
    # the section sets its own (escalation tiers).
    escalation_delays_s: list[int] = [0, 1800, 7200]
    evaluate_interval_s: float = Field(default=15, gt=0)
    dispatch_interval_s: float = Field(default=1, gt=0)
    dispatch_lease_s: int = Field(default=60, gt=0)
    retry_base_s: float = Field(default=5, gt=0)
    retry_max_s: float = Field(default=900, gt=0)
    # A message still undelivered this long after it was written goes to the dead letters.
    retry_max_age_hours: float = Field(default=24, gt=0)
    webhook_timeout_s: float = Field(default=10, gt=0)
    # Raw readings older than this many days are deleted daily, their roll-ups kept (None: off).
    raw_retention_days: int | None = Field(default=None, ge=30)
    # Webhooks to private, loopback and link-local addresses (a metadata service at
    # 169.254.169.254, the database's host): refused in production unless allowed here.
    webhook_allow_internal: bool | None = None
    # Bearer token of GET /metrics; unset, metrics are open (not served in production).
    metrics_token: SecretStr | None = None
    # JSON log lines (production's default) or readable text (development's).
    log_json: bool | None = None
    log_level: str = "INFO"
    # Scheduler jobs' per-run lines (APScheduler's "Running job…"): off unless asked.
    log_scheduler_runs: bool = False
    scheduler: bool = True  # run the scheduler in `serve` (off for API-only replicas)

    # HJ 212 listener for station data loggers; unset: off. Host unset: `host`.
    hj212_port: int | None = Field(default=None, ge=0, le=65535)
    hj212_host: str | None = None
    # A connection silent this long is closed (loggers reconnect to send).
    hj212_idle_timeout_s: float = Field(default=900, gt=0)
    # Bytes one frame may take before the stream is resynchronised at the next ##.
    hj212_max_frame_bytes: int = Field(default=4096, ge=128)
    hj212_max_connections: int = Field(default=1000, ge=1)

    @property
    def webhooks_may_reach_internal(self) -> bool:
        if self.webhook_allow_internal is not None:
            return self.webhook_allow_internal
        return self.env is not Environment.PRODUCTION

    def _oidc_given(self) -> list[bool]:
        secret = self.oidc_client_secret
        return [
            bool(self.oidc_issuer),
            bool(self.oidc_client_id),
            secret is not None and bool(secret.get_secret_value()),
        ]

    @property
    def oidc_enabled(self) -> bool:
        return all(self._oidc_given())

    @model_validator(mode="after")
    def _refuse_half_oidc(self) -> Self:
        given = self._oidc_given()
        if any(given) and not all(given):
            raise ValueError(
                "single sign-on needs RIVERWATCH_OIDC_ISSUER, RIVERWATCH_OIDC_CLIENT_ID and "
                "RIVERWATCH_OIDC_CLIENT_SECRET together"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.env is not Environment.PRODUCTION:
            return self
        problems = []
        if self.secret_key.get_secret_value() == PLACEHOLDER_SECRET:
            problems.append("RIVERWATCH_SECRET_KEY is the placeholder")
        if self.admin_token is None or len(self.admin_token.get_secret_value()) < 16:
            problems.append("RIVERWATCH_ADMIN_TOKEN must be set (16 characters or more)")
        if "127.0.0.1" in self.public_url or "localhost" in self.public_url:
            problems.append("RIVERWATCH_PUBLIC_URL must be where people reach the service")
        if (
            self.sms_provider is SmsProvider.HTTP
            and self.sms_url
            and not self.sms_api_key.get_secret_value()
        ):
            problems.append("RIVERWATCH_SMS_API_KEY is empty")
        if self.sms_provider is not SmsProvider.HTTP:
            if not self.sms_access_key_id or not self.sms_access_key_secret.get_secret_value():
                problems.append(
                    "RIVERWATCH_SMS_ACCESS_KEY_ID and RIVERWATCH_SMS_ACCESS_KEY_SECRET must be set"
                )
            if self.sms_provider is SmsProvider.TENCENT and not self.sms_app_id:
                problems.append("RIVERWATCH_SMS_APP_ID (SmsSdkAppId) must be set")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
