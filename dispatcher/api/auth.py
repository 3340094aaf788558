"""Bearer-token auth for every route except ``/healthz``, the dashboard's static shell (no
data in it) and the webhooks (the provider signs those; it can't send our token)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the Bearer token equals ``DISPATCHER_API_TOKEN``."""
    ctx = request.app.state.ctx
    if ctx.open_access:
        return
    expected = ctx.settings.api_token
    given = bearer_token(request)
    if expected is None or given is None or not hmac.compare_digest(
            given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
