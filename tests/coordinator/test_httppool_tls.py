"""The store client's TLS, against a real TLS server on loopback: the certificate and the host name
are verified (R2 and S3 are only ever reached over https in production).

A fake CA (trustme) issues the server's certificate. Trusted through ``SSL_CERT_FILE`` (which
``ssl.create_default_context`` reads, as OpenSSL's default verify paths do), the call succeeds;
untrusted, or issued for another name, it is refused before a byte of the request is sent.

References: https://docs.python.org/3/library/ssl.html#ssl.create_default_context ,
https://trustme.readthedocs.io/
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from coordinator.httppool import Pool, TransportError

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _serve(context: ssl.SSLContext) -> tuple[int, list[bytes], threading.Event]:
    """A TLS server on 127.0.0.1 answering every request with ANSWER; records what it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    received: list[bytes] = []
    done = threading.Event()

    def run() -> None:
        with listener:
            while not done.is_set():
                try:
                    raw, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    with context.wrap_socket(raw, server_side=True) as conn:
                        conn.settimeout(5)
                        received.append(conn.recv(65536))
                        conn.sendall(ANSWER)
                except (ssl.SSLError, OSError):
                    pass  # the client refused the handshake: nothing was read

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], received, done


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[tuple[int, list[bytes]]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    port, received, done = _serve(context)
    yield port, received
    done.set()


def _get(port: int, host: str = "localhost") -> bytes:
    pool = Pool("https", host, port)
    try:
        answer = pool.request(
            "GET",
            "/bucket/key",
            {"host": f"{host}:{port}"},
            connect_timeout=5,
            read_timeout=5,
            max_body=1024,
        )
    finally:
        pool.close()
    return answer.body


def test_a_certificate_from_a_trusted_ca_for_the_host_is_accepted(
    server, ca, tmp_path, monkeypatch
):
    port, received = server
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert _get(port) == b"ok"
    assert received and received[0].startswith(b"GET /bucket/key HTTP/1.1\r\n")


def test_a_certificate_from_an_untrusted_ca_is_refused_before_the_request_is_sent(
    server, tmp_path, monkeypatch
):
    port, received = server
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))  # trusted: some other CA only
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(port)
    assert received == []


def test_a_certificate_for_another_host_name_is_refused(ca, tmp_path, monkeypatch):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("store.example.com").configure_cert(context)
    port, received, done = _serve(context)
    try:
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(port)  # "localhost" is not the name the certificate was issued for
        assert received == []
    finally:
        done.set()
