"""``rediss://``: the job store (redis-py) and the Celery broker (kombu) both verify the server.

A real ``redis-server`` listens with TLS only, with a certificate signed by a CA made here with
``openssl``. One URL (``?ssl_ca_certs=...``) configures both clients; without it both refuse
the unknown CA (kombu alone would have connected without checking: ``broker_ssl_options``).
A server that requires client certificates takes ``ssl_certfile``/``ssl_keyfile`` from the URL.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dispatcher.localredis import free_port
from dispatcher.queue import QUEUE, publish
from dispatcher.settings import load_settings
from dispatcher.worker.app import broker_ssl_options, make_celery


def test_broker_ssl_options_verify_by_default() -> None:
    assert broker_ssl_options("redis://127.0.0.1:6379/0") is None
    assert broker_ssl_options("rediss://redis.example:6380/0") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED}
    # ssl_* parameters in the URL are read by both clients; nothing is added then.
    assert broker_ssl_options("rediss://h:6380/0?ssl_ca_certs=/etc/ca.pem") is None
    assert broker_ssl_options("rediss://h:6380/0?ssl_cert_reqs=none") is None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certs(folder: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=dispatcher test CA", cwd=folder)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
             cwd=folder)
    _openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr",
             "-subj", "/CN=dispatcher worker", cwd=folder)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", "2", cwd=folder)
    for key in ("server.key", "client.key"):
        (folder / key).chmod(0o600)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None or shutil.which("redis-server") is None:
        pytest.skip("openssl and redis-server are needed")
    folder = tmp_path_factory.mktemp("tls")
    _make_certs(folder)
    return folder


@pytest.fixture(scope="module")
def tls_redis(certs: Path) -> Iterator[tuple[int, Path]]:
    """(port, CA file) of a redis-server that only speaks TLS."""
    yield from _tls_server(certs, auth_clients="no")


@pytest.fixture(scope="module")
def mtls_redis(certs: Path) -> Iterator[tuple[int, Path]]:
    """The same, requiring a client certificate signed by the CA."""
    yield from _tls_server(certs, auth_clients="yes")


def _tls_server(folder: Path, auth_clients: str) -> Iterator[tuple[int, Path]]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", auth_clients, "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--loglevel", "warning"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                         ssl_ca_certs=str(folder / "ca.pem"),
                         ssl_certfile=str(folder / "client.pem"),
                         ssl_keyfile=str(folder / "client.key"))
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                pytest.skip(f"redis-server without TLS support? {error.strip()[:200]}")
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, folder / "ca.pem"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def test_one_rediss_url_for_store_and_broker(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    store = redis.Redis.from_url(url)
    try:
        store.delete(QUEUE)
        assert store.set("dispatcher:tls-check", "1")
        celery_app = make_celery(load_settings(redis_url=url))
        assert publish(celery_app, ["c1.1", "c1.2", "c1.3"], batch_size=2) == 2
        assert store.llen(QUEUE) == 2  # the broker wrote over TLS to the same server
    finally:
        store.close()


def test_both_clients_refuse_an_unknown_ca(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    url = f"rediss://127.0.0.1:{port}/0"  # the test CA is not among the system's CAs
    store = redis.Redis.from_url(url)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        store.ping()
    store.close()
    celery_app = make_celery(load_settings(redis_url=url))
    with celery_app.connection_for_write() as connection, pytest.raises(
            Exception, match="certificate verify failed"):
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                     timeout=5)


def test_client_certificate_in_the_url(mtls_redis: tuple[int, Path]) -> None:
    port, ca = mtls_redis
    folder = ca.parent
    base = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    without = redis.Redis.from_url(base)
    with pytest.raises(redis.ConnectionError):
        without.ping()  # the server wants a client certificate
    without.close()
    url = f"{base}&ssl_certfile={folder / 'client.pem'}&ssl_keyfile={folder / 'client.key'}"
    store = redis.Redis.from_url(url)
    try:
        store.delete(QUEUE)
        assert store.ping()
        celery_app = make_celery(load_settings(redis_url=url))
        assert publish(celery_app, ["c2.1"], batch_size=10) == 1
        assert store.llen(QUEUE) == 1
    finally:
        store.close()
