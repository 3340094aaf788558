"""Everything on one machine: a private Redis, the sandbox provider and worker processes.

The demo, the end-to-end tests and the benchmarks all start the system this way, so they test
the same real parts an operator runs: ``redis-server``, ``dispatcher worker`` processes and the
sandbox over real HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from dispatcher.localredis import LocalRedis
from dispatcher.sandbox import SandboxConfig, SandboxProcess


@dataclass
class WorkerProcess:
    """One ``dispatcher worker`` child in its own process group (so a kill takes it whole)."""

    env: dict[str, str]
    concurrency: int = 4
    log_path: Path | None = None
    nice: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "dispatcher", "worker", "--concurrency",
             str(self.concurrency), "--loglevel", "WARNING"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: no chance to clean up, like a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Warm shutdown (SIGTERM lets in-flight batches finish), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class LocalStack:
    """Redis + sandbox + ``workers`` worker processes, started together and stopped together."""

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

    def start(self) -> LocalStack:
        try:
            if self.redis_url is None:
                self.redis_server = LocalRedis(appendonly=self.appendonly).start()
                self.redis_url = self.redis_server.url
            self.sandbox_process = SandboxProcess(self.sandbox).start()
            for _ in range(self.workers):
                self.add_worker()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def env(self) -> dict[str, str]:
        """The environment a dispatcher command needs to talk to this stack."""
        assert self.redis_url is not None and self.sandbox_process is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
        if "DISPATCHER_CONFIG" in os.environ:
            env["DISPATCHER_CONFIG"] = os.environ["DISPATCHER_CONFIG"]
        env.update({"DISPATCHER_REDIS_URL": self.redis_url, "DISPATCHER_PROVIDER": "sandbox",
                    "DISPATCHER_PROVIDER_URL": self.sandbox_process.url})
        env.update(self.settings_env)
        return env

    def add_worker(self) -> WorkerProcess:
        log = self.log_dir / f"worker-{len(self.worker_processes)}.log" if self.log_dir else None
        worker = WorkerProcess(self.env, self.concurrency, log, self.worker_nice).start()
        self.worker_processes.append(worker)
        return worker

    def wait_workers_ready(self, timeout_s: float = 30.0) -> None:
        """Wait until every live worker process has beaten once in Redis."""
        assert self.redis_url is not None
        client = redis.Redis.from_url(self.redis_url)
        prefix = self.env.get("DISPATCHER_KEY_PREFIX", "dispatcher")
        deadline = time.monotonic() + timeout_s
        live = sum(1 for w in self.worker_processes if w.proc and w.proc.poll() is None)
        try:
            while client.zcard(f"{prefix}:workers") < live:
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not start in time")
                time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        for worker in self.worker_processes:
            worker.stop()
        self.worker_processes.clear()
        if self.sandbox_process is not None:
            self.sandbox_process.stop()
        if self.redis_server is not None:
            self.redis_server.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
