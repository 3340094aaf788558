"""Publishing work to Celery: batches of job ids, many per broker round trip.

A task carries a list of job ids (the records stay per job in Redis), so the broker's cost is
spread over ``batch_size`` messages. Only the task's name is needed, so producers don't import
the worker's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from celery import Celery

QUEUE = "dispatcher.send"
SEND_TASK = "dispatcher.send_batch"


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def publish(celery_app: Celery, job_ids: Iterable[str], batch_size: int) -> int:
    """Send the ids as batch tasks on one pooled connection; return the number of tasks."""
    tasks = 0
    with celery_app.producer_or_acquire() as producer:
        for chunk in chunked(job_ids, batch_size):
            celery_app.send_task(SEND_TASK, args=[chunk], queue=QUEUE, producer=producer)
            tasks += 1
    return tasks


def publish_ids(celery_app: Celery, job_ids: Sequence[str], batch_size: int) -> int:
    return publish(celery_app, job_ids, batch_size) if job_ids else 0
