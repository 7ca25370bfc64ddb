"""A small HTTP/1.1 client for the store calls: keep-alive connections pooled per endpoint,
every read bounded by the request's deadline, answers bounded in size.

Why not http.client's ``HTTPConnection``: its timeout applies to each socket read, so a peer
that sends a byte every second holds a call for as long as it likes (a store dripping header
lines held a status call for 40 s). Here every read waits at most ``min(read_timeout, time
left before the deadline)``, so a call ends by its deadline however the peer behaves, with no
thread to watch it. The request is written by hand (one ``sendall``); the answer is parsed by
http.client's ``HTTPResponse`` (status line, header limits, chunked and Content-Length bodies).

A pooled connection the server has closed (an idle keep-alive timeout) is found before use
when it can be (readable while idle means closed), and otherwise by a send or first read that
fails before any byte of an answer: such a request is sent once more on a new connection,
which is not an attempt of the caller's (the request never reached a live server).

TLS verifies the certificate and the host name (``ssl.create_default_context``), imported on
the first https connection only.

References: https://www.rfc-editor.org/rfc/rfc9112 (message framing, persistent connections),
urllib3's ``is_connection_dropped`` (the readable-while-idle check).
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

__all__ = ["MAX_IDLE", "AnswerTooLarge", "BudgetExceeded", "Pool", "Response", "TransportError"]

MAX_IDLE = 32  # idle connections kept per endpoint (more than the coordinator's threads)
_FORBIDDEN_IN_HEADERS = frozenset("\r\n\0")


class TransportError(Exception):
    """No usable answer: the connection was refused, reset or cut, or a read timed out."""


class BudgetExceeded(TransportError):
    """The deadline came before the answer did."""


class AnswerTooLarge(Exception):
    """The answer is longer than the caller accepts (it was not read, nor kept in memory)."""


class Response:
    """A status, the headers (names lowercased; a repeated header keeps its last value) and
    the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read bounded by the read timeout and by the deadline."""

    def __init__(self, sock: socket.socket, read_timeout: float, deadline: float | None) -> None:
        self._sock = sock
        self._read_timeout = read_timeout
        self._deadline = deadline
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self._read_timeout
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise BudgetExceeded("no time left for the answer")
            if remaining < timeout:
                timeout = remaining
        self._sock.settimeout(timeout)
        try:
            count = self._sock.recv_into(buffer)
        except TimeoutError:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise BudgetExceeded("the answer did not come within the deadline") from None
            raise
        self.received += count
        return count


class _Source:
    """What ``HTTPResponse`` reads from: it only calls ``makefile``."""

    __slots__ = ("reader",)

    def __init__(self, reader: _DeadlineReader) -> None:
        self.reader = reader

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self.reader)


class Pool:
    """Keep-alive connections to one ``scheme://host:port``, shared by threads."""

    def __init__(self, scheme: str, host: str, port: int, *, max_idle: int = MAX_IDLE) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, got {scheme!r}")
        self.scheme, self.host, self.port = scheme, host, port
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._tls: ssl.SSLContext | None = None
        self.opened = 0  # connections made, for tests and benches

    def __repr__(self) -> str:
        return f"Pool({self.scheme}://{self.host}:{self.port}, {len(self._idle)} idle)"

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        connect_timeout: float,
        read_timeout: float,
        deadline: float | None = None,
        max_body: int,
    ) -> Response:
        """Send one request and read its whole answer (at most ``max_body`` bytes of body).

        Raises TransportError (BudgetExceeded when the deadline ends it), AnswerTooLarge, and
        ValueError for a header that would split the request.
        """
        head = _request_head(method, target, headers, len(body))
        payload = head + body if len(body) < 65536 else None
        while True:
            sock, reused = self._checkout(connect_timeout, deadline)
            reader = _DeadlineReader(sock, read_timeout, deadline)
            try:
                if payload is not None:
                    sock.sendall(payload)
                else:
                    sock.sendall(head)
                    sock.sendall(body)
                response = http.client.HTTPResponse(_Source(reader), method=method)  # type: ignore[arg-type]
                response.begin()
                status = response.status
                answer_headers = {name.lower(): value for name, value in response.getheaders()}
                length = response.length
                if length is not None and length > max_body:
                    raise AnswerTooLarge(f"the answer declares {length} bytes")
                data = response.read(max_body + 1)
                if len(data) > max_body:
                    raise AnswerTooLarge(f"the answer is longer than {max_body} bytes")
            except (BudgetExceeded, AnswerTooLarge):
                sock.close()
                raise
            except (OSError, http.client.HTTPException) as exc:
                sock.close()
                if reused and reader.received == 0 and not isinstance(exc, TimeoutError):
                    continue  # a keep-alive connection the server had closed: a new one
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
            if response.will_close or not response.isclosed():
                sock.close()
            else:
                self._checkin(sock)
            return Response(status, answer_headers, data)

    def _checkout(
        self, connect_timeout: float, deadline: float | None
    ) -> tuple[socket.socket, bool]:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect(connect_timeout, deadline), False
            if _still_open(sock):
                return sock, True
            sock.close()

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(sock)
                return
        sock.close()

    def _connect(self, connect_timeout: float, deadline: float | None) -> socket.socket:
        timeout = connect_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BudgetExceeded("no time left to connect")
            timeout = min(timeout, remaining)
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise BudgetExceeded("the connection was not made within the deadline") from None
            raise TransportError(f"cannot connect: {type(exc).__name__}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            try:
                sock = self._tls_context().wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:  # ssl.SSLError and certificate errors are OSErrors
                sock.close()
                raise TransportError(f"TLS: {type(exc).__name__}: {exc}") from None
        self.opened += 1
        return sock

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import ssl

            self._tls = ssl.create_default_context()  # verifies the certificate and host name
        return self._tls


def _still_open(sock: socket.socket) -> bool:
    """False when an idle connection is readable: the server closed it (or sent garbage)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _request_head(method: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if _FORBIDDEN_IN_HEADERS.intersection(name) or _FORBIDDEN_IN_HEADERS.intersection(value):
            raise ValueError(f"header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    if length or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {length}")
    if _FORBIDDEN_IN_HEADERS.intersection(target) or " " in target:
        raise ValueError(f"request target {target!r} holds a space, line break or NUL")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")
