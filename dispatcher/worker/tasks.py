"""The one Celery task: send a batch of jobs. Its body runs on the process's event loop."""

from __future__ import annotations

from typing import Any

from celery import signals

from dispatcher.queue import SEND_TASK
from dispatcher.worker.app import app
from dispatcher.worker.runtime import Runtime, start_runtime, stop_runtime

__all__ = ["app", "runtime", "send_batch"]
from dispatcher.worker.sending import process_batch


def runtime() -> Runtime:
    return start_runtime(app.conf.dispatcher_settings, app)


@app.task(name=SEND_TASK, ignore_result=True)
def send_batch(job_ids: list[str]) -> int:
    """Send the jobs of one batch that are still queued; the job records decide, not the queue."""
    if not isinstance(job_ids, list) or not all(isinstance(j, str) for j in job_ids):
        return 0  # not ours: a malformed message must not crash the worker
    rt = runtime()
    return rt.run(process_batch(rt, job_ids))


@signals.task_received.connect
def _hold_on_receipt(request: Any = None, **_: Any) -> None:
    """Record the batch as held the moment the broker hands it over, before it waits for a
    pool thread, so a worker killed with it reserved has it taken over within ``lease_s``."""
    args = getattr(request, "args", None)
    if getattr(request, "name", None) == SEND_TASK and args and isinstance(args[0], list):
        rt = runtime()
        rt.run(rt.store.hold(rt.worker_id, [j for j in args[0] if isinstance(j, str)]))


@signals.worker_ready.connect
def _start_on_ready(**_: Any) -> None:
    runtime()  # heartbeat, reaper and due mover run even before the first task


@signals.worker_shutdown.connect
def _stop_on_shutdown(**_: Any) -> None:
    stop_runtime()
