"""The dashboard: a static page (HTML + JS, no build step, no CDN) at ``/``.

The shell holds no data, so it is served without the token; the page reads the token from the
URL fragment (``/#token=...``, never sent to the server) or asks for it, and calls the API with
it as a Bearer token.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)


def _static_dir() -> str:
    return str(resources.files("dispatcher.api").joinpath("static"))


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    html = resources.files("dispatcher.api").joinpath("static/index.html")
    return HTMLResponse(html.read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store"})


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")
