"""Everything on one machine: a private Redis, the sandbox provider, worker processes and,
optionally, the HTTP service with the sandbox's status webhooks pointed at it.

The demo, the end-to-end tests and the benchmarks all start the system this way, so they test
the same real parts an operator runs: ``redis-server``, ``dispatcher worker`` processes, the
sandbox over real HTTP and ``dispatcher serve``.

Stopping is part of the contract: inside :func:`stop_on_signals` (the demo) SIGINT, SIGTERM and
SIGHUP raise :class:`Interrupted`, but never between spawning a child and recording it, nor
while the stack stops, so no child is ever left behind however early or late a signal comes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType

import httpx
import redis

from dispatcher.localredis import LocalRedis, free_port
from dispatcher.sandbox import SandboxConfig, SandboxProcess

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived (``signum`` says which); ``with`` blocks and ``finally`` run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Held:
    """Stop-signal bookkeeping (handler installed, held depth, held and first signal); only
    the main thread touches it."""

    installed = False
    depth = 0
    pending: int | None = None
    received: int | None = None  # the first stop signal since stop_on_signals began


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _Held.received is None:
        _Held.received = signum
    if _Held.depth:
        _Held.pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` in the main thread."""
    _Held.received = None
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    _Held.installed = True
    try:
        yield
    finally:
        _Held.installed = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _Held.received = None


def check_stop() -> None:
    """Raise :class:`Interrupted` if a stop signal came but its exception got lost.

    Python drops an exception raised in a finaliser (``__del__``, a weakref callback: the
    "Exception ignored in" message), so a signal that lands there would otherwise go
    unnoticed; loops that wait call this.
    """
    if _Held.received is not None and not _Held.depth:
        raise Interrupted(_Held.received)


@contextlib.contextmanager
def _held(drop: bool = False) -> Iterator[None]:
    """Hold stop signals for the block; raise the held one after it, unless ``drop``.

    Under :func:`stop_on_signals` SIGINT is also blocked at the OS level, and the children
    spawned meanwhile inherit that: a terminal's Ctrl-C, which reaches the whole foreground
    process group, stops them only through this process, in order (SIGTERM still works).
    """
    _Held.depth += 1
    mask: set[int | signal.Signals] | None = None
    try:
        if _Held.installed and _Held.depth == 1:
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        if mask is not None:  # a blocked SIGINT is handled in here, while still held
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _Held.depth -= 1
        if _Held.depth == 0 and _Held.pending is not None:
            signum, _Held.pending = _Held.pending, None
            if not drop:
                raise Interrupted(signum)


class GroupProcess:
    """A ``dispatcher`` command in a child process of its own process group (killed whole).

    Its own group also keeps a terminal's Ctrl-C away from it: whoever started it decides
    when and how it stops.
    """

    def __init__(self, env: dict[str, str], log_path: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> GroupProcess:
        log = self.log_path.open("ab") if self.log_path else None
        try:
            self.proc = subprocess.Popen(
                self.command(), env=self.env, stdin=subprocess.DEVNULL,
                stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            if log is not None:
                log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to clean up, like a crash."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        """Ask the group to stop (SIGTERM) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def wait_or_kill(self, timeout_s: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (a worker lets its in-flight batches finish), then SIGKILL after timeout."""
        self.terminate()
        self.wait_or_kill(timeout_s)


class WorkerProcess(GroupProcess):
    """One ``dispatcher worker`` child."""

    def __init__(self, env: dict[str, str], concurrency: int = 4,
                 log_path: Path | None = None, nice: int = 0) -> None:
        super().__init__(env, log_path)
        self.concurrency, self.nice = concurrency, nice

    def command(self) -> list[str]:
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        return [*prefix, sys.executable, "-m", "dispatcher", "worker", "--concurrency",
                str(self.concurrency), "--loglevel", "WARNING"]

    def start(self) -> WorkerProcess:
        super().start()
        return self


class ApiProcess(GroupProcess):
    """``dispatcher serve`` on a loopback port: the API, the dashboard and the webhooks."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path | None = None) -> None:
        super().__init__(env, log_path)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dispatcher", "serve", "--host", "127.0.0.1",
                "--port", str(self.port)]

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Wait until ``/healthz`` answers 200 (the service is up and reaches Redis)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is None or self.proc.poll() is not None:
                where = f" (log: {self.log_path})" if self.log_path else ""
                raise RuntimeError(f"dispatcher serve exited during start{where}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            check_stop()
            if time.monotonic() > deadline:
                raise TimeoutError("dispatcher serve did not answer in time")
            time.sleep(0.1)


def _secret() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class LocalStack:
    """Redis + sandbox + ``workers`` worker processes (+ the HTTP service with ``api``),
    started together and stopped together."""

    workers: int = 2
    concurrency: int = 4
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    settings_env: dict[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    appendonly: bool = False
    log_dir: Path | None = None
    # Workers at a lower priority than the sandbox: on one small machine the sandbox stands in
    # for a provider on its own hardware, whose clock sees requests when they arrive.
    worker_nice: int = 0
    redis_server: LocalRedis | None = None
    sandbox_process: SandboxProcess | None = None
    worker_processes: list[WorkerProcess] = field(default_factory=list)
    # ``dispatcher serve`` with a fresh API token and webhook secret; the sandbox posts its
    # signed status webhooks to it unless ``sandbox.callback_url`` is already set.
    api: bool = False
    api_token: str = field(default_factory=_secret, repr=False)
    webhook_secret: str = field(default_factory=_secret, repr=False)
    api_process: ApiProcess | None = None
    # How long stopping workers may take (in-flight batches finish) before SIGKILL.
    worker_stop_timeout_s: float = 10.0

    def start(self) -> LocalStack:
        try:
            if self.redis_url is None:
                self.redis_server = LocalRedis(appendonly=self.appendonly)
                with _held():
                    self.redis_server.start()
                self.redis_url = self.redis_server.url
            if self.api:
                self._start_api()
            self.sandbox_process = SandboxProcess(self.sandbox)
            with _held():
                self.sandbox_process.start()
            if self.api_process is not None:
                self.api_process.wait_ready()
            for _ in range(self.workers):
                self.add_worker()
        except BaseException:
            self.stop(worker_timeout_s=2.0)
            raise
        return self

    def _start_api(self) -> None:
        """Start ``dispatcher serve`` (it boots while the sandbox starts), webhooks to it."""
        port = free_port()
        log = self.log_dir / "api.log" if self.log_dir else None
        self.api_process = ApiProcess(self._env(), port, log)
        with _held():
            self.api_process.start()
        if self.sandbox.callback_url is None:
            self.sandbox = replace(self.sandbox, app_secret=self.webhook_secret,
                                   callback_url=f"{self.api_process.url}/webhooks/whatsapp")

    @property
    def env(self) -> dict[str, str]:
        """The environment a dispatcher command needs to talk to this stack."""
        assert self.redis_url is not None and self.sandbox_process is not None
        return self._env()

    def _env(self) -> dict[str, str]:
        assert self.redis_url is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
        if "DISPATCHER_CONFIG" in os.environ:
            env["DISPATCHER_CONFIG"] = os.environ["DISPATCHER_CONFIG"]
        env.update({"DISPATCHER_REDIS_URL": self.redis_url, "DISPATCHER_PROVIDER": "sandbox"})
        if self.sandbox_process is not None:
            env["DISPATCHER_PROVIDER_URL"] = self.sandbox_process.url
        if self.api:
            env.update({"DISPATCHER_API_TOKEN": self.api_token,
                        "DISPATCHER_WEBHOOK_APP_SECRET": self.webhook_secret,
                        "DISPATCHER_WEBHOOK_VERIFY_TOKEN": self.webhook_secret})
        env.update(self.settings_env)
        return env

    @property
    def api_url(self) -> str:
        assert self.api_process is not None, "LocalStack(api=True) runs the HTTP service"
        return self.api_process.url

    def dashboard_url(self, campaign_id: str | None = None) -> str:
        """The dashboard, signed in: the token rides in the fragment (never sent to a server)."""
        fragment = f"token={self.api_token}"
        if campaign_id:
            fragment += f"&campaign={campaign_id}"
        return f"{self.api_url}/#{fragment}"

    def add_worker(self) -> WorkerProcess:
        log = self.log_dir / f"worker-{len(self.worker_processes)}.log" if self.log_dir else None
        worker = WorkerProcess(self.env, self.concurrency, log, self.worker_nice)
        with _held():
            self.worker_processes.append(worker.start())
        return worker

    def wait_workers_ready(self, timeout_s: float = 30.0) -> None:
        """Wait until every live worker process has beaten once in Redis."""
        assert self.redis_url is not None
        client = redis.Redis.from_url(self.redis_url)
        prefix = self.env.get("DISPATCHER_KEY_PREFIX", "dispatcher")
        deadline = time.monotonic() + timeout_s
        live = sum(1 for w in self.worker_processes if w.alive())
        try:
            while client.zcard(f"{prefix}:workers") < live:
                check_stop()
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not start in time")
                time.sleep(0.1)
        finally:
            client.close()

    def stop(self, worker_timeout_s: float | None = None) -> None:
        """Stop everything this stack started; stop signals wait until it is done.

        The workers get SIGTERM together and ``worker_timeout_s`` (default
        ``worker_stop_timeout_s``) in all to finish their in-flight batches before SIGKILL;
        then the sandbox, the HTTP service and Redis.
        """
        if worker_timeout_s is None:
            worker_timeout_s = self.worker_stop_timeout_s
        with _held(drop=True):
            for worker in self.worker_processes:
                worker.terminate()
            deadline = time.monotonic() + worker_timeout_s
            for worker in self.worker_processes:
                worker.wait_or_kill(deadline - time.monotonic())
            self.worker_processes.clear()
            if self.sandbox_process is not None:  # before the service its webhooks go to
                self.sandbox_process.stop()
            if self.api_process is not None:
                self.api_process.stop(timeout_s=5.0)
            if self.redis_server is not None:
                self.redis_server.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
