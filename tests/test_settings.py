"""Settings: defaults, then the TOML file, then DISPATCHER_* variables; secrets stay hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.errors import ConfigError
from dispatcher.settings import load_settings, masked


def test_defaults() -> None:
    settings = load_settings()
    assert settings.rate_limit == 80.0
    assert settings.provider == "sandbox"
    assert settings.on_ambiguous == "fail"
    assert set(settings.sender_map) == {"default"}


def test_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dispatcher.toml"
    config.write_text('rate_limit = 20\nprovider = "bsp"\nprovider_url = "https://api.aisoule.com"\n')
    monkeypatch.setenv("DISPATCHER_CONFIG", str(config))
    assert load_settings().rate_limit == 20.0
    monkeypatch.setenv("DISPATCHER_RATE_LIMIT", "35")
    settings = load_settings()
    assert settings.rate_limit == 35.0 and settings.provider == "bsp"
    assert settings.sender("default").url == "https://api.aisoule.com"


def test_senders_declared_in_toml_read_their_key_from_the_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dispatcher.toml"
    config.write_text(
        '[dispatcher]\n[[dispatcher.senders]]\nname = "shop"\nprovider = "cloud"\n'
        'url = "https://graph.facebook.com"\nphone_number_id = "1065"\nrate = 40\n'
        'api_key_env = "SHOP_TOKEN"\n')
    monkeypatch.setenv("DISPATCHER_CONFIG", str(config))
    monkeypatch.setenv("SHOP_TOKEN", "s3cr3t-token")
    settings = load_settings()
    shop = settings.sender("shop")
    assert shop.rate == 40 and shop.provider == "cloud"
    key = settings.sender_api_key("shop")
    assert key is not None and key.get_secret_value() == "s3cr3t-token"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(masked(settings))
    with pytest.raises(ConfigError, match="unknown sender 'nope'"):
        settings.sender("nope")


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("DISPATCHER_RATE_LIMIT", "fast", "rate_limit"),
        ("DISPATCHER_RATE_LIMIT", "-1", "rate_limit"),
        ("DISPATCHER_PROVIDER", "smoke-signals", "provider"),
        ("DISPATCHER_PROVIDER_URL", "api.aisoule.com", "provider_url"),
        ("DISPATCHER_ON_AMBIGUOUS", "maybe", "on_ambiguous"),
        ("DISPATCHER_DEFAULT_REGION", "india", "default_region"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert fragment in message and env in message and "\n" not in message


def test_bad_toml_and_unknown_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dispatcher.toml"
    config.write_text("rate_limit = = 3\n")
    monkeypatch.setenv("DISPATCHER_CONFIG", str(config))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    config.write_text("rate_limt = 3\n")
    with pytest.raises(ConfigError, match="rate_limt"):
        load_settings()
    monkeypatch.setenv("DISPATCHER_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="file not found"):
        load_settings()


def test_config_show_masks_secrets_and_bad_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"DISPATCHER_API_KEY": "key-abc-123", "DISPATCHER_REDIS_URL": "redis://u:pw9@h:1/0",
           "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-m", "dispatcher", "config", "show", "--json"],
                           env=env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "key-abc-123" not in shown.stdout and "pw9" not in shown.stdout
    assert '"api_key": "********"' in shown.stdout
    env["DISPATCHER_RATE_LIMIT"] = "abc"
    bad = subprocess.run([sys.executable, "-m", "dispatcher", "config", "show"],
                         env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "DISPATCHER_RATE_LIMIT" in bad.stderr
    assert "Traceback" not in bad.stderr
