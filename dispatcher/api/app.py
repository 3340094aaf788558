"""The HTTP service: ``create_app(settings)`` builds the FastAPI application.

Routes: ``/v1/...`` (campaigns, jobs, controls), ``/metrics``, ``/healthz``, the dashboard at
``/`` and the provider's webhooks at ``/webhooks/whatsapp``. Every route needs the Bearer token
except ``/healthz``, the dashboard's static files and the webhooks (signed by the provider).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from dispatcher.api.auth import require_token
from dispatcher.api.context import ApiContext
from dispatcher.api.routes import campaigns, create, dashboard, health, jobs, metrics, webhooks
from dispatcher.errors import DispatcherError, InputError, NotFoundError
from dispatcher.settings import Settings

VERSION = "1"


def create_app(settings: Settings, *, open_access: bool = False) -> FastAPI:
    """The application. ``open_access`` skips the token (``serve --insecure-open`` only)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.ctx.close()

    app = FastAPI(title="dispatcher", version=VERSION, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None,
                  description="Status, controls and metrics of the WhatsApp bulk dispatcher.")
    app.state.ctx = ApiContext.build(settings, open_access)
    protected = [Depends(require_token)]
    app.include_router(health.router)
    app.include_router(campaigns.router, dependencies=protected)
    app.include_router(create.router, dependencies=protected)
    app.include_router(jobs.router, dependencies=protected)
    app.include_router(metrics.router, dependencies=protected)
    app.include_router(webhooks.router)
    app.include_router(dashboard.router)
    dashboard.mount_static(app)
    _add_docs(app)
    _add_error_handlers(app)
    return app


def _add_docs(app: FastAPI) -> None:
    """OpenAPI schema and Swagger UI, behind the token like the data they describe."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_token)])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="dispatcher API")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DispatcherError)
    async def dispatcher_error(request: Request, exc: DispatcherError) -> JSONResponse:
        code = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(
            exc, InputError) else 409
        return JSONResponse({"detail": str(exc)}, status_code=code)
