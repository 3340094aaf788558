"""``/_sandbox/*``: what tests and benchmarks use to read counters and script faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from dispatcher.sandbox.config import ConfigValueError, FaultRule

if TYPE_CHECKING:
    from dispatcher.sandbox.app import Sandbox

MAX_PAGE = 10_000


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _bad(message: str) -> web.Response:
    return _json({"error": {"message": message, "code": 100}}, 400)


async def _read_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ConfigValueError("body is not valid JSON") from None


def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigValueError(f"{name} must be an integer") from None
    if not 0 <= value <= maximum:
        raise ConfigValueError(f"{name} must be between 0 and {maximum}")
    return value


def add_routes(app: web.Application, sandbox: Sandbox) -> None:
    """Register the control endpoints (no auth: the sandbox is for local tests only)."""

    async def stats(_: web.Request) -> web.Response:
        snapshot = sandbox.stats.snapshot()
        snapshot["callbacks_pending"] = sandbox.callbacks.pending()
        return _json(snapshot)

    async def messages(request: web.Request) -> web.Response:
        try:
            limit = _int_param(request, "limit", 100, MAX_PAGE)
            offset = _int_param(request, "offset", 0, 1 << 62)
        except ConfigValueError as exc:
            return _bad(str(exc))
        return _json(sandbox.stats.page(limit, offset))

    async def key(request: web.Request) -> web.Response:
        name = request.match_info["key"]
        return _json({
            "key": name,
            "accepted": sandbox.stats.key_counts.get(name, 0),
            "message_id": sandbox.stats.key_ids.get(name),
        })

    async def get_faults(_: web.Request) -> web.Response:
        return _json({"rules": [rule.as_dict() for rule in sandbox.faults.rules]})

    async def set_faults(request: web.Request) -> web.Response:
        """Replace the rules (``"append": true`` adds to them instead)."""
        try:
            body = await _read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
                raise ConfigValueError('expected {"rules": [...]}')
            rules = [FaultRule.from_dict(raw) for raw in body["rules"]]
        except (ConfigValueError, TypeError) as exc:
            return _bad(str(exc))
        if body.get("append"):
            sandbox.faults.add_rules(rules)
        else:
            sandbox.faults.set_rules(rules)
        return await get_faults(request)

    async def clear_faults(request: web.Request) -> web.Response:
        sandbox.faults.clear()
        return await get_faults(request)

    async def get_config(_: web.Request) -> web.Response:
        return _json(sandbox.config.public_dict())

    async def set_config(request: web.Request) -> web.Response:
        try:
            sandbox.config.update(await _read_json(request))
        except ConfigValueError as exc:
            return _bad(str(exc))
        sandbox.apply_config()
        return _json(sandbox.config.public_dict())

    async def reset(_: web.Request) -> web.Response:
        """Zero the counters and limiter state; settings and fault rules stay."""
        sandbox.reset()
        return _json({"reset": True})

    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/messages", messages)
    app.router.add_get("/_sandbox/keys/{key}", key)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/config", get_config)
    app.router.add_post("/_sandbox/config", set_config)
    app.router.add_post("/_sandbox/reset", reset)
