"""The Celery application: ``celery -A dispatcher.worker.app worker -P threads``.

Celery is the transport for *batches of job ids*; the job records in Redis decide what is sent.
Settings (see ``architecture.md``): JSON only, late acks, requeue on worker loss, prefetch 1 per
thread, no result backend, and a visibility timeout far longer than a batch can sit reserved.
A worker that dies does not wait for that timeout: its leases are taken over by the reaper
(``recovery.py``) within ``lease_s`` seconds.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

from celery import Celery

from dispatcher.queue import SEND_TASK, queue_name
from dispatcher.settings import Settings, load_settings

VISIBILITY_TIMEOUT_S = 6 * 3600


def make_celery(settings: Settings) -> Celery:
    app = Celery("dispatcher", broker=settings.redis_url, include=["dispatcher.worker.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue_name(settings.key_prefix),
        task_routes={SEND_TASK: {"queue": queue_name(settings.key_prefix)}},
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        # Publishing rides out a Redis restart like the worker's other Redis commands (about
        # 17 s; Celery's default gives up after 0.6 s). A batch published twice is harmless.
        task_publish_retry_policy={"max_retries": 20, "interval_start": 0.1,
                                   "interval_step": 0.2, "interval_max": 1.0},
        broker_pool_limit=16,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    broker_ssl = broker_ssl_options(settings.redis_url)
    if broker_ssl is not None:
        app.conf.broker_use_ssl = broker_ssl
    app.conf.dispatcher_settings = settings
    return app


def broker_ssl_options(redis_url: str) -> dict[str, Any] | None:
    """For a ``rediss://`` URL without ``ssl_*`` parameters: verify the server's certificate.

    The job store (redis-py) verifies a ``rediss://`` server against the system's CAs by
    default, but kombu, given no ``ssl_*`` parameter, falls back to ``CERT_NONE`` (encrypted,
    not authenticated). This makes the broker verify too. ``ssl_*`` parameters in the URL
    (``ssl_ca_certs=/path/ca.pem``, ``ssl_cert_reqs=none``...) are read by both clients and
    take precedence, so one URL configures both the same way.
    """
    parts = urlsplit(redis_url)
    if parts.scheme != "rediss":
        return None
    if any(name.startswith("ssl_") for name in parse_qs(parts.query)):
        return None
    return {"ssl_cert_reqs": ssl.CERT_REQUIRED}


app = make_celery(load_settings())
