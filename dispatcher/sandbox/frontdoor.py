"""The sandbox's front door: when each request arrived, by the kernel's clock.

A provider judges its rate limit where requests arrive, on machines of its own. The sandbox is
one Python event loop sharing a small machine with the workers it tests: when it is not
scheduled for a few milliseconds, the requests that came meanwhile are read in one pass and
look like a burst that never happened. Traced at 1,000/s on 2 cores: the workers' writes were
spaced 0.2-6 ms apart and never over the limit, the sandbox's own clock stamped them in lumps
of 5-8 within 0.05 ms after gaps of 6-10 ms, and every one of its 429s came from such a lump.

So the listening socket asks the kernel for receive timestamps (``SO_TIMESTAMPNS``), and each
connection's transport reads with ``recvmsg``: the time the request's last segment reached the
socket, however late the loop gets to it. HTTP/1.1 clients send the next request on a
connection only after the answer, so a connection's last read is the request being handled.

This reaches into asyncio's selector transport (``_read_ready_cb``). Where that is not there
(another event loop, another platform) nothing is installed and :func:`arrival_time` falls back
to the loop's clock at handling, as before.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from asyncio import selector_events
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["ARRIVED_AT", "StampingSite", "arrival_time", "listening_socket"]

ARRIVED_AT = "arrived_at"  # transport extra: time.monotonic() of the last read's kernel stamp
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; the constant is 3.12+
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)
_SOCKET_TRANSPORT: type | None = getattr(selector_events, "_SelectorSocketTransport", None)
_SUPPORTED = sys.platform == "linux" and _SOCKET_TRANSPORT is not None


def listening_socket(host: str | None, port: int, backlog: int = 1024) -> socket.socket:
    """A bound TCP socket whose accepted connections carry kernel receive timestamps."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if _SUPPORTED:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # inherited by accept()
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class StampingSite(web.SockSite):
    """``web.SockSite`` whose connections record when each read arrived (see module doc)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        if server is None:  # pragma: no cover - aiohttp sets it up before sites start
            raise RuntimeError("the runner is not set up")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(_stamping(server), sock=self._sock,
                                                backlog=self._backlog)


def arrival_time(request: web.Request) -> float:
    """When the request arrived (``time.monotonic()`` scale): kernel stamp, else now."""
    transport = request.transport
    stamp = transport.get_extra_info(ARRIVED_AT) if transport is not None else None
    return stamp if isinstance(stamp, float) else time.monotonic()


def _stamping(factory: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
    return lambda: _StampingProtocol(factory())


class _StampingProtocol(asyncio.Protocol):
    """Hands everything to aiohttp's handler; installs the stamping read first."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _install(transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _install(transport: asyncio.BaseTransport) -> None:
    """Make the transport read with ``recvmsg`` and keep each read's kernel timestamp."""
    if not (_SUPPORTED and _SOCKET_TRANSPORT is not None
            and isinstance(transport, _SOCKET_TRANSPORT)):
        return
    selector_transport: Any = transport
    reads_plainly = getattr(selector_transport, "_read_ready__data_received", None)
    if reads_plainly is None or selector_transport._read_ready_cb != reads_plainly:
        return  # a buffered protocol, or an asyncio that reads differently
    selector_transport._read_ready_cb = lambda: _read_stamped(selector_transport)


def _read_stamped(transport: Any) -> None:
    """asyncio's ``_read_ready__data_received``, reading the kernel's timestamp as well."""
    if transport._conn_lost:
        return
    try:
        data, ancillary, _, _ = transport._sock.recvmsg(transport.max_size, _ANCILLARY_SIZE)
    except (BlockingIOError, InterruptedError):
        return
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        transport._fatal_error(exc, "Fatal read error on socket transport")
        return
    if not data:
        transport._read_ready__on_eof()
        return
    transport._extra[ARRIVED_AT] = _monotonic_stamp(ancillary)
    try:
        transport._protocol.data_received(data)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        transport._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")


def _monotonic_stamp(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time (wall clock) moved onto ``time.monotonic()``'s scale."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            arrived: float = seconds + nanoseconds / 1e9
            if seconds == 0:
                return None
            return time.monotonic() - (time.time() - arrived)
    return None
