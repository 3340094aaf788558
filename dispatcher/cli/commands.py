"""Commands that run services or talk to Redis: sandbox, worker, enqueue, status, requeue."""

from __future__ import annotations
