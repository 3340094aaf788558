"""Each installation (key prefix) has its own broker queue on a shared Redis."""

from __future__ import annotations

import redis

from dispatcher.queue import publish
from dispatcher.settings import load_settings
from dispatcher.worker.app import make_celery


def test_the_queue_follows_the_key_prefix(redis_client: redis.Redis, redis_url: str) -> None:
    for prefix, ids in (("dispatcher", ["c1.1", "c1.2"]), ("demo-1", ["c2.1"])):
        app = make_celery(load_settings(redis_url=redis_url, key_prefix=prefix))
        try:
            assert publish(app, ids, batch_size=1) == len(ids)
        finally:
            app.close()
    assert redis_client.llen("dispatcher.send") == 2
    assert redis_client.llen("demo-1.send") == 1
