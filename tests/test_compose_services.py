"""The Compose file's services and health checks, run as local processes (no Docker engine here).

``docker-compose config`` resolves the file; each service's command runs with this checkout's
``dispatcher`` (ports swapped for free ones, the service names for 127.0.0.1), and each health
check command must pass while its service runs and fail once it is gone: a check that can never
fail, or a command that doesn't start, is caught here rather than on a deployed host.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatcher.localredis import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (scripts/check_deploy reports it)")
    env = {**os.environ, "DISPATCHER_API_TOKEN": "compose-test-token"}
    done = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "--profile", "sandbox",
                           "config"], env=env, capture_output=True, text=True, check=True,
                          timeout=60)
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


class Local:
    """Runs the services' commands and health checks on this machine."""

    def __init__(self, compose: dict[str, Any], tmp: Path) -> None:
        self.compose = compose
        self.tmp = tmp
        self.ports = {"6379": str(free_port()), "8099": str(free_port()),
                      "8080": str(free_port())}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def swap(self, text: str) -> str:
        """Service names and fixed ports -> loopback and free ports; `$$` as the shell sees it."""
        for port, free in self.ports.items():
            text = text.replace(f":{port}", f":{free}")
            if text == port:
                text = free
        for name in ("redis", "sandbox", "api"):
            text = text.replace(f"//{name}:", "//127.0.0.1:")
        return text.replace("0.0.0.0", "127.0.0.1").replace("$$", "$")

    def env(self, service: str) -> dict[str, str]:
        env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
               "HOSTNAME": socket.gethostname()}
        for name, value in (self.compose[service].get("environment") or {}).items():
            if value is not None:  # a name without a value passes through only when set
                env[name] = self.swap(str(value))
        return env

    def start(self, service: str) -> None:
        command = [self.swap(str(part)) for part in self.compose[service]["command"]]
        if service == "redis":
            argv = [*command, "--port", self.ports["6379"], "--bind", "127.0.0.1",
                    "--dir", str(self.tmp)]
        else:
            argv = [str(BIN / "dispatcher"), *command]
        self.processes[service] = subprocess.Popen(
            argv, cwd=self.tmp, env=self.env(service), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def stop(self, service: str) -> None:
        process = self.processes.pop(service)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def healthy(self, service: str) -> bool:
        test = self.compose[service]["healthcheck"]["test"]
        kind, rest = test[0], [self.swap(str(part)) for part in test[1:]]
        if service == "redis":
            rest = [part.replace("redis-cli", f"redis-cli -p {self.ports['6379']}")
                    for part in rest]
        argv = ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
        if argv[0] == "python":
            argv[0] = sys.executable
        done = subprocess.run(argv, env=self.env(service), capture_output=True, timeout=60,
                              check=False)
        return done.returncode == 0

    def wait_healthy(self, service: str, timeout_s: float = 45.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy(service):
            assert self.processes[service].poll() is None, f"{service} exited"
            assert time.monotonic() < deadline, f"{service} never became healthy"
            time.sleep(0.5)

    def close(self) -> None:
        for service in list(self.processes):
            self.stop(service)


@pytest.fixture()
def local(compose: dict[str, Any], tmp_path: Path) -> Iterator[Local]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is needed")
    stack = Local(compose, tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def test_every_service_starts_and_its_health_check_tells(local: Local) -> None:
    for service in ("redis", "sandbox", "api"):
        assert not local.healthy(service), f"{service}: healthy before it started"
    for service in ("redis", "sandbox", "api", "worker"):
        local.start(service)
        local.wait_healthy(service)
    local.stop("worker")
    assert not local.healthy("worker"), "the worker check passes without a worker"
    local.stop("redis")
    assert not local.healthy("api"), "the API check passes while Redis is down"
    local.stop("sandbox")
    assert not local.healthy("sandbox")


def test_redis_runs_with_aof_and_noeviction(local: Local) -> None:
    local.start("redis")
    local.wait_healthy("redis")
    port = local.ports["6379"]
    for name, expected in (("appendonly", "yes"), ("appendfsync", "everysec"),
                           ("maxmemory-policy", "noeviction"), ("maxmemory", str(1 << 30))):
        done = subprocess.run(["redis-cli", "-p", port, "config", "get", name],
                              capture_output=True, text=True, check=True, timeout=10)
        assert done.stdout.split() == [name, expected]
