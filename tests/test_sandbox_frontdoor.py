"""The sandbox judges its rate limit by when requests arrived, not when its loop read them."""

from __future__ import annotations

import socket
import threading
import time

import orjson
import pytest

from dispatcher.sandbox import SandboxConfig, SandboxThread
from dispatcher.sandbox.frontdoor import SO_TIMESTAMPNS, listening_socket
from dispatcher.sandbox.limits import SenderBuckets
from dispatcher.testing import BUTTON_EXAMPLE


def raw_request(to: str) -> bytes:
    body = orjson.dumps(dict(BUTTON_EXAMPLE, to=to))
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def status_of(conn: socket.socket) -> int:
    conn.settimeout(5)
    answer = b""
    while b"\r\n" not in answer:
        chunk = conn.recv(4096)
        assert chunk, "the sandbox closed the connection without an answer"
        answer += chunk
    return int(answer.split(b" ", 2)[1])


def block_loop(sandbox: SandboxThread, seconds: float) -> None:
    """Keep the sandbox's event loop busy for ``seconds``; return once it is blocked."""
    blocked = threading.Event()

    def busy() -> None:
        blocked.set()
        time.sleep(seconds)

    assert sandbox._loop is not None
    sandbox._loop.call_soon_threadsafe(busy)
    assert blocked.wait(5)


@pytest.mark.skipif(not hasattr(socket, "CMSG_SPACE"), reason="needs recvmsg ancillary data")
def test_requests_read_in_one_lump_are_judged_by_when_they_arrived() -> None:
    # 20/s with a burst of 1: one request every 50 ms. Four requests sent 70 ms apart conform;
    # the sandbox's loop is blocked meanwhile and reads all four in one pass.
    with SandboxThread(SandboxConfig(rate=20, burst=1, pair_interval_s=None)) as sandbox:
        host, port = sandbox.url.removeprefix("http://").split(":")
        conns = [socket.create_connection((host, int(port))) for _ in range(4)]
        try:
            time.sleep(0.1)  # accepted, transports set up
            block_loop(sandbox, 0.5)
            for index, conn in enumerate(conns):
                conn.sendall(raw_request(f"9188568791{index:02d}"))
                time.sleep(0.07)
            statuses = [status_of(conn) for conn in conns]
        finally:
            for conn in conns:
                conn.close()
        stats = sandbox.stats()
    assert statuses == [200, 200, 200, 200]
    assert stats["rejected"] == {}
    # The same limit judged by the loop's clock would have refused three of them: the test
    # would fail if the stamps were the loop's.
    assert stats["throttled_by_loop_clock"] == 3


def test_listening_socket_asks_for_kernel_timestamps() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS) == 1
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_bucket_judges_out_of_order_arrivals_like_in_order_ones() -> None:
    in_order = SenderBuckets(rate=100, burst=2, clock=lambda: 0.0)
    reordered = SenderBuckets(rate=100, burst=2, clock=lambda: 0.0)
    stamps = [0.0, 0.001, 0.002, 0.030, 0.031, 0.032, 0.033]
    swapped = [0.0, 0.002, 0.001, 0.030, 0.033, 0.031, 0.032]
    granted = [in_order.take("s", t) is None for t in stamps]
    granted_swapped = [reordered.take("s", t) is None for t in swapped]
    assert granted.count(True) == granted_swapped.count(True) == 4
