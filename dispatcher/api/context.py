"""What every request handler shares: settings, the Redis-backed stores, the Celery app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request

from dispatcher.settings import Settings
from dispatcher.store import JobStore
from dispatcher.store.receipts import ReceiptStore
from dispatcher.webhooks import WebhookReceiver

if TYPE_CHECKING:
    from celery import Celery


@dataclass
class ApiContext:
    settings: Settings
    open_access: bool
    redis: aioredis.Redis
    store: JobStore
    receiver: WebhookReceiver
    _celery: Celery | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, open_access: bool) -> ApiContext:
        client = aioredis.Redis.from_url(settings.redis_url)
        secret = settings.webhook_app_secret
        receiver = WebhookReceiver(ReceiptStore(client, settings.key_prefix),
                                   secret.get_secret_value() if secret else None)
        return cls(settings, open_access, client, JobStore(client, settings.key_prefix),
                   receiver)

    @property
    def celery(self) -> Celery:
        """The Celery app the controls publish with (made on first use)."""
        if self._celery is None:
            from dispatcher.worker.app import make_celery

            self._celery = make_celery(self.settings)
        return self._celery

    async def close(self) -> None:
        await self.redis.aclose()
        if self._celery is not None:
            self._celery.close()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
