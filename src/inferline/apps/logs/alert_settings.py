"""The settings of incident alerts on Slack, from the environment (prefix INFERLINE_).

The webhook URL is a secret: it may come from a file (INFERLINE_SLACK_WEBHOOK_URL_FILE, a
mounted Docker or Kubernetes secret), it is kept as a `SecretStr`, and a bad value is
reported without being shown (`hide_input_in_errors`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inferline.core.settings import SecretFilesSource


class AlertSettings(BaseSettings):
    """Where incident alerts go and how often. Each can be set as INFERLINE_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="INFERLINE_", extra="ignore", hide_input_in_errors=True
    )

    slack_webhook_url: SecretStr | None = None
    """A Slack incoming webhook (https://…); unset or empty: notifications are off (said in
    the start-up log and in the logs app's status). Or INFERLINE_SLACK_WEBHOOK_URL_FILE."""

    alert_window_seconds: float = Field(default=60.0, gt=0, le=24 * 3600)
    """An incident's first occurrence is posted at once; the rest of this window becomes
    one follow-up with the count."""

    alert_link_base_url: str | None = Field(default=None, max_length=500)
    """The address people open Inferline at (https://inferline.example.com): messages link
    `<it>/api/v1/logs/incidents/{id}`. Unset: they show the path."""

    slack_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Longest wait for one answer from Slack."""

    slack_max_attempts: int = Field(default=5, ge=1, le=10)
    """Tries of one message on 429, 5xx and connection errors (backoff 1 s doubling to 30 s,
    or what Retry-After says)."""

    slack_max_retry_after_seconds: float = Field(default=30.0, ge=0, le=600)
    """A 429 asking for a longer wait fails the message at once instead of holding the rest."""

    alert_max_keys: int = Field(default=10_000, ge=1, le=1_000_000)
    """Open windows kept at most; opening one more closes the oldest early."""

    alert_max_queued: int = Field(default=1_000, ge=1, le=100_000)
    """Messages waiting for Slack at most; beyond that new ones are dropped and counted."""

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook_is_a_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL (a Slack incoming webhook)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("alert_link_base_url")
    @classmethod
    def _base_is_a_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s):// address, e.g. https://inferline.example.com")
        return value.strip().rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )
