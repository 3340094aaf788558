"""Settings: built-in defaults, then a TOML file, then ``DISPATCHER_*`` environment variables.

The TOML file is ``config/dispatcher.toml`` (relative to the working directory) or the path in
``DISPATCHER_CONFIG``. Several senders can be declared there as ``[[senders]]`` tables; each names
the *environment variable* that holds its API key, so the key itself never sits in a file that
might be committed. Keys are ``SecretStr``: they never show in ``repr``, logs or Redis.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dispatcher.errors import ConfigError

ProviderKind = Literal["bsp", "cloud", "sandbox"]
DEFAULT_CONFIG_PATH = Path("config/dispatcher.toml")
DEFAULT_SENDER = "default"


class SenderSettings(BaseModel):
    """One sending identity (API key or business phone number) with its own rate limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    provider: ProviderKind = "sandbox"
    url: str = "http://127.0.0.1:8099"
    rate: float = Field(default=80.0, gt=0, le=10_000)
    api_key_env: str | None = Field(default=None, description="name of the env var holding the key")
    phone_number_id: str | None = None
    api_version: str = "v21.0"

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        return _check_base_url(value)

    def api_key(self) -> SecretStr | None:
        """The key, read from the environment variable this sender names (never stored)."""
        if self.api_key_env is None:
            return None
        raw = os.environ.get(self.api_key_env)
        return SecretStr(raw) if raw else None


def _check_base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an absolute http(s) URL such as https://api.aisoule.com")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every setting of the dispatcher. ``dispatcher config show`` prints the effective values."""

    model_config = SettingsConfigDict(
        env_prefix="DISPATCHER_", extra="forbid", validate_default=True, frozen=True
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = Field(default="dispatcher", pattern=r"^[A-Za-z0-9_.:-]+$")
    # The default sender, built from these when no [[senders]] table is named "default".
    provider: ProviderKind = "sandbox"
    provider_url: str = "http://127.0.0.1:8099"
    api_key: SecretStr | None = None
    phone_number_id: str | None = None
    api_version: str = "v21.0"
    rate_limit: float = Field(default=80.0, gt=0, le=10_000)
    rate_burst: int = Field(default=1, ge=1, le=1000)
    pair_interval_s: float = Field(default=6.0, gt=0, le=3600)
    # Adaptive rate: a sender-throttled answer multiplies the shared rate by this (at most once
    # a second); clean answers add this fraction of the configured rate back per second.
    rate_decrease_factor: float = Field(default=0.5, gt=0, lt=1)
    rate_increase_per_s: float = Field(default=0.05, gt=0, le=1)
    senders: list[SenderSettings] = Field(default_factory=list)
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    # Sending and retries.
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_s: float = Field(default=1.0, gt=0, le=3600)
    retry_max_s: float = Field(default=300.0, gt=0, le=86_400)
    on_ambiguous: Literal["fail", "retry"] = "fail"
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    read_timeout_s: float = Field(default=15.0, gt=0, le=300)
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # Worker shape.
    batch_size: int = Field(default=100, ge=1, le=1000)
    max_in_flight: int = Field(default=256, ge=1, le=5000)
    lease_s: float = Field(default=20.0, ge=2, le=600)
    # A running campaign with queued jobs but no progress for this long has its queued jobs
    # that no worker holds published again (a batch message the broker lost).
    stall_s: float = Field(default=30.0, ge=1, le=3600)
    # HTTP service and webhooks (secrets: never printed).
    api_token: SecretStr | None = None
    webhook_verify_token: SecretStr | None = None
    webhook_app_secret: SecretStr | None = None

    @field_validator("provider_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        return _check_base_url(value)

    @field_validator("senders")
    @classmethod
    def _unique_sender_names(cls, value: list[SenderSettings]) -> list[SenderSettings]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"sender names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: explicit arguments, then environment, then the TOML file.
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @cached_property
    def sender_map(self) -> dict[str, SenderSettings]:
        """Declared senders by name, with the implicit ``default`` sender from the flat settings."""
        declared = {s.name: s for s in self.senders}
        declared.setdefault(
            DEFAULT_SENDER,
            SenderSettings(
                name=DEFAULT_SENDER,
                provider=self.provider,
                url=self.provider_url,
                rate=self.rate_limit,
                phone_number_id=self.phone_number_id,
                api_version=self.api_version,
            ),
        )
        return declared

    def sender(self, name: str) -> SenderSettings:
        try:
            return self.sender_map[name]
        except KeyError:
            known = ", ".join(sorted(self.sender_map))
            raise ConfigError(f"unknown sender {name!r}; declared senders: {known}") from None

    def sender_api_key(self, name: str) -> SecretStr | None:
        """The sender's key: its own env var, else ``DISPATCHER_API_KEY`` for the default one."""
        sender = self.sender(name)
        key = sender.api_key()
        if key is None and name == DEFAULT_SENDER:
            return self.api_key
        return key


def config_path() -> Path:
    return Path(os.environ.get("DISPATCHER_CONFIG", str(DEFAULT_CONFIG_PATH)))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file; a missing default file is fine, a missing named file is an error."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if not path.exists():
            if "DISPATCHER_CONFIG" in os.environ:
                raise ConfigError(f"DISPATCHER_CONFIG: file not found: {path}")
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        section = data.get("dispatcher", data)
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [dispatcher] must be a table")
        return section


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into one clear ``ConfigError`` line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    top = str(first["loc"][0]) if first["loc"] else ""
    env_name = f"DISPATCHER_{top.upper()}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad setting {path} ({env_name} or {config_path()}): {first['msg']}{more}"


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data with every secret masked, for ``config show``."""
    data = settings.model_dump(mode="json")
    for name in ("api_key", "api_token", "webhook_verify_token", "webhook_app_secret"):
        if getattr(settings, name) is not None:
            data[name] = "********"
    data["redis_url"] = _mask_url_password(settings.redis_url)
    for sender in data["senders"]:
        env = sender.get("api_key_env")
        sender["api_key"] = "********" if env and os.environ.get(env) else None
    return data


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:********@{host}"
