"""Shared fixtures: one throwaway redis-server per test run (or DISPATCHER_TEST_REDIS_URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from dispatcher.localredis import LocalRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL that tests may flush: a private server unless the environment names one."""
    external = os.environ.get("DISPATCHER_TEST_REDIS_URL")
    if external:
        yield external
        return
    with LocalRedis() as server:
        yield server.url


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a flushed database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep the developer's own DISPATCHER_* variables and config file out of the tests."""
    for name in list(os.environ):
        if name.startswith("DISPATCHER_") and name != "DISPATCHER_TEST_REDIS_URL":
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "no-config.toml"
    empty.write_text("")
    monkeypatch.setenv("DISPATCHER_CONFIG", str(empty))
