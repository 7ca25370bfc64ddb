"""A small HTTP/1.1 client for the store calls: keep-alive connections pooled per endpoint,
every read bounded by the request's deadline, answers bounded in size.

Why not ``http.client``: its timeout applies to each socket read, so a peer that sends a byte
every second holds a call for as long as it likes (a store dripping header lines held a status
call for 40 s); and importing it costs a cold start ssl, email.parser and more (about 10 ms
here) before any https is needed. Here every read waits at most ``min(read_timeout, time left
before the deadline)``, so a call ends by its deadline however the peer behaves, with no
thread to watch it. The request is written in one ``sendall``; the answer is read by the few
rules of RFC 9112 a client needs: a status line, at most ``MAX_HEADERS`` header lines (of at
most ``MAX_LINE`` bytes, CRLF-ended, 128 KiB in all), then a body framed by
``Transfer-Encoding: chunked``, by ``Content-Length``, or by the connection's end (none for
HEAD, 1xx, 204 and 304). Anything else (two lengths that differ, a folded header line, a
transfer coding other than chunked) is a ``TransportError``: the store's answer cannot be
trusted to end where it says.

A pooled connection the server has closed (an idle keep-alive timeout) is found before use
when it can be (readable while idle means closed), and otherwise by a send or first read that
fails before any byte of an answer: such a request is sent once more on a new connection, which
is not an attempt of the caller's (the request never reached a live server).

TLS verifies the certificate and the host name (``ssl.create_default_context``); ``ssl`` and
``socket`` are imported on the first connection, not with this module (cold start).

References: https://www.rfc-editor.org/rfc/rfc9112 (message framing, persistent connections),
urllib3's ``is_connection_dropped`` (the readable-while-idle check).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket
    import ssl

__all__ = [
    "MAX_HEADERS",
    "MAX_IDLE",
    "MAX_LINE",
    "AnswerTooLarge",
    "BudgetExceeded",
    "Pool",
    "Response",
    "TransportError",
]

MAX_IDLE = 32  # idle connections kept per endpoint (more than the coordinator's threads)
MAX_HEADERS = 100  # header lines in an answer (http.client's limit)
MAX_LINE = 65536  # bytes in a status, header or chunk-size line (http.client's limit)
_CHUNK = 65536
_FORBIDDEN_IN_HEADERS = re.compile(r"[\r\n\0]")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")


class TransportError(Exception):
    """No usable answer: the connection was refused, reset or cut, a read timed out, or the
    answer's framing cannot be trusted."""


class BudgetExceeded(TransportError):
    """The deadline came before the answer did."""


class AnswerTooLarge(Exception):
    """The answer is longer than the caller accepts (the rest of it was not read)."""


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the answer."""


class Response:
    """A status, the headers (names lowercased; a repeated header's values joined by ", ",
    as RFC 9110 5.3 allows) and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


class _Reader:
    """Reads an answer from a socket, each read bounded by the read timeout and the deadline."""

    __slots__ = ("_buffer", "_deadline", "_read_timeout", "_sock", "received")

    def __init__(self, sock: socket.socket, read_timeout: float, deadline: float | None) -> None:
        self._sock = sock
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._buffer = bytearray()
        self.received = 0

    def _fill(self) -> bool:
        """Read what the peer sends next into the buffer; False at the end of the stream."""
        timeout = self._read_timeout
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise BudgetExceeded("the answer did not come within the deadline")
            timeout = min(timeout, remaining)
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(_CHUNK)
        except TimeoutError:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise BudgetExceeded("the answer did not come within the deadline") from None
            raise TransportError("the store did not answer within the read timeout") from None
        except OSError as exc:
            if self.received == 0:
                raise _Stale from None
            raise TransportError(f"the connection broke: {exc}") from None
        if not data:
            return False
        self.received += len(data)
        self._buffer += data
        return True

    def line(self) -> bytes:
        """The next line, without its CRLF (a bare LF ends one too, as RFC 9112 2.2 allows)."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                if end > MAX_LINE:
                    raise TransportError("a line of the answer is too long")
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buffer) > MAX_LINE:
                raise TransportError("a line of the answer is too long")
            start = len(self._buffer)
            if not self._fill():
                if self.received == 0:
                    raise _Stale
                raise TransportError("the answer ended in the middle of a line")

    def head(self) -> list[bytes]:
        """The status line and the header lines, up to the empty line that ends them (CRLF
        line ends: S3 and R2 send them; RFC 9112 2.2 lets a client require them)."""
        start = 0
        while True:
            end = self._buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                block = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                lines = block.split(b"\r\n")
                if any(len(line) > MAX_LINE for line in lines):
                    raise TransportError("a line of the answer is too long")
                return lines
            if len(self._buffer) > MAX_LINE * 2:
                raise TransportError("the answer's head is too long")
            start = max(0, len(self._buffer) - 3)
            if not self._fill():
                if self.received == 0:
                    raise _Stale
                raise TransportError("the answer ended in its head")

    def exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise TransportError("the answer ended before its declared length")
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def rest(self, limit: int) -> bytes:
        """Everything until the peer closes, at most ``limit`` bytes (AnswerTooLarge if more)."""
        while self._fill():
            if len(self._buffer) > limit:
                raise AnswerTooLarge(f"the answer is longer than {limit} bytes")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    @property
    def drained(self) -> bool:
        return not self._buffer


def _read_response(reader: _Reader, method: str, max_body: int) -> tuple[Response, bool]:
    """(the answer, whether the connection may carry another request)."""
    while True:
        status_line, *lines = reader.head()
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            raise TransportError("the answer does not start with an HTTP/1.x status line")
        minor, status = match.group(1), int(match.group(2))
        headers = _headers(lines)
        if status >= 200 or status == 101:
            break  # 1xx (100 Continue...) precede the real answer
    if status == 101:
        raise TransportError("the store switched protocols")
    keep_alive = minor == b"1" and "close" not in headers.get("connection", "").lower()
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b""), keep_alive
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise TransportError(f"unsupported transfer coding {coding!r}")
        return Response(status, headers, _read_chunked(reader, max_body)), keep_alive
    length = headers.get("content-length")
    if length is not None:
        values = {value.strip() for value in length.split(",")}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values)).encode()):
            raise TransportError(f"the answer's Content-Length is not one number: {length!r}")
        size = int(next(iter(values)))
        if size > max_body:
            raise AnswerTooLarge(f"the answer declares {size} bytes")
        return Response(status, headers, reader.exactly(size)), keep_alive
    return Response(status, headers, reader.rest(max_body)), False


def _headers(lines: list[bytes]) -> dict[str, str]:
    if len(lines) > MAX_HEADERS:
        raise TransportError(f"the answer has more than {MAX_HEADERS} header lines")
    headers: dict[str, str] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise TransportError("the answer folds a header line (obsolete, refused)")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise TransportError("the answer has a malformed header line")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _read_chunked(reader: _Reader, max_body: int) -> bytes:
    body = bytearray()
    while True:
        match = _CHUNK_SIZE.fullmatch(reader.line())
        if match is None:
            raise TransportError("the answer has a malformed chunk size")
        size = int(match.group(1), 16)
        if size == 0:
            break
        if len(body) + size > max_body:
            raise AnswerTooLarge(f"the answer is longer than {max_body} bytes")
        body += reader.exactly(size)
        if reader.line():
            raise TransportError("a chunk of the answer does not end where it says")
    for _ in range(MAX_HEADERS + 1):  # the trailer, read and dropped
        if not reader.line():
            break
    else:
        raise TransportError(f"the answer has more than {MAX_HEADERS} trailer lines")
    return bytes(body)


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
        ValueError for a header or target that would split the request.
        """
        payload = _request_head(method, target, headers, len(body)) + body
        while True:
            sock, reused = self._checkout(connect_timeout, deadline)
            reader = _Reader(sock, read_timeout, deadline)
            try:
                try:
                    sock.sendall(payload)
                except OSError as exc:
                    raise _Stale if reused else TransportError(f"cannot send: {exc}") from None
                response, keep_alive = _read_response(reader, method, max_body)
            except _Stale:
                sock.close()
                if reused:
                    continue  # a keep-alive connection the server had closed: a new one
                raise TransportError("the store closed the connection without answering") from None
            except BaseException:
                sock.close()
                raise
            if keep_alive and reader.drained:
                self._checkin(sock)
            else:
                sock.close()
            return response

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
        import socket

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
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _request_head(method: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
    if _FORBIDDEN_IN_HEADERS.search(target) or " " in target:
        raise ValueError(f"request target {target!r} holds a space, line break or NUL")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if _FORBIDDEN_IN_HEADERS.search(name) or _FORBIDDEN_IN_HEADERS.search(value):
            raise ValueError(f"header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    if length or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")
