"""Running a sandbox for tests and benchmarks: in a subprocess, or in a background thread.

Both handles expose ``.url`` plus small synchronous helpers over the ``/_sandbox`` endpoints.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import IO, Any, Self

import httpx
import orjson

from dispatcher.sandbox.config import FaultRule, SandboxConfig, config_to_dict
from dispatcher.sandbox.server import run_server

START_TIMEOUT_S = 15.0
READY_PREFIX = "sandbox listening on "


class SandboxClient:
    """Synchronous helpers for the control endpoints of a running sandbox at ``url``."""

    url: str
    _http: httpx.Client | None = None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._http is None:
            self._http = httpx.Client(timeout=10.0)
        response = self._http.request(method, self.url + path, **kwargs)
        response.raise_for_status()
        return response.json()

    def close_client(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_sandbox/stats")
        return result

    def messages(self, limit: int = 10_000, offset: int = 0) -> list[dict[str, Any]]:
        page = self._call("GET", "/_sandbox/messages", params={"limit": limit, "offset": offset})
        result: list[dict[str, Any]] = page["messages"]
        return result

    def key_count(self, key: str) -> int:
        return int(self._call("GET", f"/_sandbox/keys/{key}")["accepted"])

    def set_faults(self, rules: list[FaultRule | dict[str, Any]], append: bool = False) -> None:
        raw = [r.as_dict() if isinstance(r, FaultRule) else r for r in rules]
        self._call("POST", "/_sandbox/faults", json={"rules": raw, "append": append})

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def update_config(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_sandbox/config", json=changes)
        return result

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")


def _wait_until_answering(url: str, deadline: float,
                          proc: subprocess.Popen[bytes] | None = None) -> None:
    while True:
        if proc is not None and proc.poll() is not None:  # stopped after it announced
            raise RuntimeError(f"sandbox exited during start (exit code {proc.returncode})")
        try:
            if httpx.get(url + "/_sandbox/stats", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"sandbox at {url} did not answer in time")
        time.sleep(0.05)


class SandboxProcess(SandboxClient):
    """``python -m dispatcher.sandbox`` in a child process, on a free port unless one is set.

    The config travels in ``$SANDBOX_CONFIG_JSON`` (secrets stay off the command line).
    """

    def __init__(self, config: SandboxConfig | None = None, *, free_port: bool = True):
        config = config or SandboxConfig()
        self.config = replace(config, port=0) if free_port else config
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        env = dict(os.environ)
        env["SANDBOX_CONFIG_JSON"] = orjson.dumps(config_to_dict(self.config)).decode()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.sandbox"], env=env, stdout=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            assert self.proc.stdout is not None
            self.url = _read_ready_line(self.proc, self.proc.stdout, deadline)
            _wait_until_answering(self.url, deadline, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it hasn't exited within ``timeout`` seconds."""
        self.close_client()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _read_ready_line(proc: subprocess.Popen[bytes], stream: IO[bytes], deadline: float) -> str:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("sandbox did not start in time")
        readable, _, _ = select.select([stream], [], [], remaining)
        if not readable:
            continue
        line = stream.readline().decode(errors="replace")
        if not line:
            raise RuntimeError(f"sandbox exited during start (exit code {proc.wait()})")
        if line.startswith(READY_PREFIX):
            return line[len(READY_PREFIX):].strip()


def start_sandbox_process(**options: Any) -> SandboxProcess:
    """Start a sandbox subprocess with these SandboxConfig fields; ``.stop()`` it when done."""
    return SandboxProcess(SandboxConfig(**options)).start()


class SandboxThread(SandboxClient):
    """The sandbox on its own event loop in a daemon thread of this process (fast to start).

    It shares this process's CPU and GIL, so benchmarks should prefer SandboxProcess.
    """

    def __init__(self, config: SandboxConfig | None = None, *, free_port: bool = True):
        config = config or SandboxConfig()
        self.config = replace(config, port=0) if free_port else config
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._main, name="sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("sandbox thread did not start in time")
        if self._error is not None:
            raise RuntimeError("sandbox thread failed to start") from self._error
        return self

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run_server(self.config, self._stop, self._on_ready)

        try:
            asyncio.run(body())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def _on_ready(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.close_client()
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
