"""Who requires keys by default, secrets from files, and the parsing of key options."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from inferline.application.auth import check_rate_limit, expiry
from inferline.cli import auth_required, is_loopback
from inferline.core.settings import Settings, redact_url
from inferline.domain.errors import InvalidInput


@pytest.mark.parametrize(
    ("setting", "command", "host", "required"),
    [
        (None, "serve", "127.0.0.1", False),
        (None, "serve", "localhost", False),
        (None, "serve", "::1", False),
        (None, "serve", "0.0.0.0", True),
        (None, "serve", "10.1.2.3", True),
        (None, "api", "127.0.0.1", True),
        ("off", "api", "0.0.0.0", False),
        ("required", "serve", "127.0.0.1", True),
    ],
)
def test_keys_are_required_unless_serve_binds_loopback(
    setting: str | None, command: str, host: str, required: bool
) -> None:
    assert auth_required(setting, command, host) is required


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("example.com") and not is_loopback("0.0.0.0")


def test_any_setting_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "db").write_text("postgresql+asyncpg://u:pw@db/inferline\n")
    (tmp_path / "secret").write_text("from-a-file")
    monkeypatch.setenv("INFERLINE_DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("INFERLINE_AUTH_SECRET_FILE", str(tmp_path / "secret"))
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u:pw@db/inferline"
    assert settings.auth_secret is not None
    assert settings.auth_secret.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(settings)

    monkeypatch.setenv("INFERLINE_AUTH_SECRET", "also-set")
    with pytest.raises(ValueError, match="not both"):
        Settings()
    monkeypatch.delenv("INFERLINE_AUTH_SECRET")
    monkeypatch.setenv("INFERLINE_AUTH_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot read"):
        Settings()


def test_urls_are_shown_without_passwords() -> None:
    assert (
        redact_url("postgresql+asyncpg://u:pw@h:5432/db") == "postgresql+asyncpg://u:***@h:5432/db"
    )
    assert redact_url("redis://h:6379/0?password=x&db=1") == "redis://h:6379/0?password=***&db=1"
    assert redact_url("sqlite+aiosqlite:///./inferline.db") == "sqlite+aiosqlite:///./inferline.db"


def test_auth_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="rate limit URL"):
        Settings(rate_limit_url="memcached://x")
    with pytest.raises(ValidationError, match="not both"):
        Settings(jwt_jwks_url="https://id/jwks", jwt_jwks_file="/x")
    with pytest.raises(ValidationError):
        Settings(auth="maybe")  # type: ignore[arg-type]


def test_key_options_parse() -> None:
    assert check_rate_limit("10/second") == "10/second"
    assert check_rate_limit("600 per minute") == "600 per minute"
    with pytest.raises(InvalidInput, match="rate limit"):
        check_rate_limit("fast")
    assert expiry("2d", now=1000.0) == 1000.0 + 2 * 86400
    assert expiry("2030-01-01T00:00:00") == 1893456000.0
    with pytest.raises(InvalidInput, match="expiry"):
        expiry("soon")
