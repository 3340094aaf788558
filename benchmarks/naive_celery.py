"""The baseline: what a user writes without the dispatcher. One Celery task per message, a
blocking HTTP client, Celery's own ``rate_limit``, the prefork pool.

Run by ``bench_pipeline.py`` as ``celery -A naive_celery worker``; reads the broker and the
sandbox's URL from the environment.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from celery import Celery

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                task_default_queue="naive", worker_hijack_root_logger=False)
SANDBOX = os.environ.get("NAIVE_SANDBOX", "http://127.0.0.1:8099")
client = httpx.Client(timeout=15.0)


RATE = os.environ.get("NAIVE_RATE", "1000/s")


@app.task(name="naive.send_one", rate_limit=RATE, bind=True, max_retries=50)
def send_one(self: Any, message: dict[str, Any], key: str) -> None:
    response = client.post(f"{SANDBOX}/v1/messages", json=message,
                           headers={"Authorization": "Bearer x", "Idempotency-Key": key})
    if response.status_code >= 500 or response.status_code == 429:
        raise self.retry(countdown=1)
