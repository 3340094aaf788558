"""Publishing work to Celery: batches of job ids, many per broker round trip.

A task carries a list of job ids (the records stay per job in Redis), so the broker's cost is
spread over ``batch_size`` messages. Only the task's name is needed, so producers don't import
the worker's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from celery import Celery

SEND_TASK = "dispatcher.send_batch"


def queue_name(key_prefix: str) -> str:
    """The broker queue of one installation: its key prefix + ``.send``, so two installations
    (a demo beside a live system, say) on one Redis never take each other's batches."""
    return f"{key_prefix}.send"


QUEUE = queue_name("dispatcher")  # the default installation's queue


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def publish(celery_app: Celery, job_ids: Iterable[str], batch_size: int) -> int:
    """Send the ids as batch tasks on one pooled connection; return the number of tasks."""
    tasks = 0
    queue = celery_app.conf.task_default_queue or QUEUE  # set by make_celery from the prefix
    with celery_app.producer_or_acquire() as producer:
        for chunk in chunked(job_ids, batch_size):
            celery_app.send_task(SEND_TASK, args=[chunk], queue=queue, producer=producer)
            tasks += 1
    return tasks


def publish_ids(celery_app: Celery, job_ids: Sequence[str], batch_size: int) -> int:
    return publish(celery_app, job_ids, batch_size) if job_ids else 0
