# SPDX-License-Identifier: MIT
"""Transports written in Python.

A Session sends every HTTP exchange through a transport: libcurl's by default, or a
``Transport`` subclass given as ``Session(..., transport=...)``. The library does retries,
authentication, JSON and error mapping; a transport only moves bytes: it reads a ``Request``
and reports into a ``Response`` (status, headers, body as it arrives).

``HttpTransport`` is one built on the standard library (``http.client`` and ``ssl``): TLS
verified against ``ca_file`` (or the system's CAs), one kept-alive connection, multipart bodies
framed here with file parts streamed from disk, optional proxy through CONNECT.
"""
from __future__ import annotations

import ctypes
import http.client
import os
import secrets
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Tuple

from . import _lib
from ._callbacks import Slot, _registry
from .enums import Status


class TransportError(Exception):
    """Raise from ``Transport.send`` to report a failed exchange. ``code`` is one of
    Status.ENETWORK, ETLS, ETIMEOUT, ETOOBIG, EPROTOCOL (others count as ENETWORK);
    ``reached_server`` False only when the request certainly did not leave (the library may
    then re-send a request that changes state)."""

    def __init__(self, code: int, message: str, reached_server: bool = True) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.reached_server = reached_server


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body: ``data`` in memory, or a file at ``path``."""
    name: str
    filename: Optional[str]
    content_type: Optional[str]
    data: Optional[bytes]
    path: Optional[str]
    size: int

    def chunks(self, chunk_size: int = 65536) -> Iterator[bytes]:
        """The content, from memory or streamed from the file (never read whole)."""
        if self.path is None:
            if self.data:
                yield self.data
            return
        left = self.size
        with open(self.path, "rb") as f:
            while left > 0:
                chunk = f.read(min(chunk_size, left))
                if not chunk:
                    raise TransportError(Status.EIO, "%s: shorter than the %d bytes announced"
                                         % (self.path, self.size))
                left -= len(chunk)
                yield chunk


@dataclass(frozen=True)
class Request:
    """One HTTP request, copied out of the library's zrca_transport_request."""
    method: str
    url: str
    headers: List[Tuple[str, str]]
    body: Optional[bytes]
    content_type: Optional[str]
    parts: Optional[List[Part]]
    max_response_size: int
    connect_timeout: float
    timeout: float
    fresh_connection: bool

    def multipart(self, boundary: Optional[str] = None) -> Tuple[str, int, Iterator[bytes]]:
        """Frame ``parts`` as multipart/form-data: (content type, exact length, body chunks)."""
        assert self.parts is not None
        boundary = boundary or "zrca-py-" + secrets.token_hex(16)
        heads = []
        total = 0
        for p in self.parts:
            disp = 'form-data; name="%s"' % _quote(p.name)
            if p.filename:
                disp += '; filename="%s"' % _quote(p.filename)
            h = "--%s\r\nContent-Disposition: %s\r\n" % (boundary, disp)
            if p.content_type:
                h += "Content-Type: %s\r\n" % p.content_type
            hb = (h + "\r\n").encode("utf-8")
            heads.append(hb)
            total += len(hb) + p.size + 2
        tail = ("--%s--\r\n" % boundary).encode("ascii")
        total += len(tail)

        def gen() -> Iterator[bytes]:
            for hb, p in zip(heads, self.parts or []):
                yield hb
                sent = 0
                for c in p.chunks():
                    sent += len(c)
                    yield c
                if sent != p.size:
                    raise TransportError(Status.EIO, "part %s: %d bytes instead of %d" % (p.name, sent, p.size))
                yield b"\r\n"
            yield tail

        return "multipart/form-data; boundary=" + boundary, total, gen()


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


class Response:
    """Where a transport reports the response; valid only during ``send``."""

    __slots__ = ("_resp",)

    def __init__(self, resp: int) -> None:
        self._resp = _lib.TransportResponseP(resp)

    def set_status(self, status: int) -> None:
        """Report the HTTP status code."""
        if _lib.zrca_transport_response_set_status(self._resp, int(status)) < 0:
            raise TransportError(Status.EPROTOCOL, "HTTP status %r out of range" % status)

    def add_header(self, name: str, value: str) -> None:
        """Report a response header."""
        rc = _lib.zrca_transport_response_add_header(self._resp, name.encode("latin-1", "replace"),
                                                     value.encode("latin-1", "replace"))
        if rc < 0:
            raise TransportError(rc, "response header refused")

    def write(self, data: bytes) -> None:
        """Deliver body bytes; raises TransportError(ETOOBIG) past the size cap: stop reading."""
        if not data:
            return
        rc = _lib.zrca_transport_response_write(self._resp, data, len(data))
        if rc < 0:
            raise TransportError(rc, "response body refused")


class Transport:
    """Base of transports written in Python: implement ``send``; ``close`` is called once when
    the session that owns the transport is freed."""

    def send(self, request: Request, response: Response) -> None:
        """Do one HTTP exchange: read ``request``, report into ``response``; raise TransportError on
        failure."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once when the session that uses the transport is freed; does nothing by default."""
        pass


def _request_from_c(r: Any) -> Request:
    headers = [(_lib.s(r.headers[i].name) or "", _lib.s(r.headers[i].value) or "")
               for i in range(r.header_count)]
    body = ctypes.string_at(r.body, r.body_size) if r.body else None
    parts = None
    if r.parts and r.part_count:
        parts = []
        for i in range(r.part_count):
            p = r.parts[i]
            path = os.fsdecode(p.path) if p.path else None
            data = None if path else (ctypes.string_at(p.data, p.size) if p.data else b"")
            parts.append(Part(_lib.s(p.name) or "", _lib.s(p.filename), _lib.s(p.content_type), data, path,
                              int(p.size)))
    return Request(_lib.s(r.method) or "GET", _lib.s(r.url) or "", headers, body, _lib.s(r.content_type),
                   parts, int(r.max_response_size), max(r.connect_timeout_ms, 1) / 1000.0,
                   max(r.timeout_ms, 1) / 1000.0, bool(r.fresh_connection))


def _send_thunk(self_key: Optional[int], req: Any, resp: Optional[int]) -> int:
    sl = _registry.get(self_key or 0)
    if sl is None or sl.fn is None or not resp:
        return Status.ENETWORK
    response = Response(resp)
    try:
        sl.fn.send(_request_from_c(req.contents), response)
        return 0
    except TransportError as e:
        return _lib.zrca_transport_response_fail(response._resp, e.code, 1 if e.reached_server else 0,
                                                 e.message.encode("utf-8", "replace"))
    except BaseException as e:
        # Not a transport failure: the Python code failed. The library stops with ZRCA_EUSER
        # (never retried) and the session method re-raises this exception.
        sl.fail(e)
        return int(Status.EUSER)


def _free_thunk(self_key: Optional[int]) -> None:
    sl = _registry.get(self_key or 0)
    if sl is None:
        return
    t = sl.fn
    # The Slot stays registered (the Session re-raises a pending error from it, then releases it).
    try:
        if t is not None:
            t.close()
    except BaseException as e:
        sl.fail(e)


SEND_THUNK = _lib.SEND_FN(_send_thunk)
FREE_THUNK = _lib.FREE_FN(_free_thunk)


def make_vtable(transport: Transport) -> Tuple[_lib.Transport, Slot]:
    """The C vtable of a Python transport and the Slot that holds it (for Session)."""
    slot = Slot(transport)
    vt = _lib.Transport()
    vt.version = _lib.TRANSPORT_VERSION
    vt.self = slot.payload
    vt.send = SEND_THUNK
    vt.free = FREE_THUNK
    return vt, slot


class HttpTransport(Transport):
    """A transport on ``http.client``: HTTPS only, TLS verified against ``ca_file`` (PEM bundle)
    or the system's CAs, one persistent connection (a new one when the request asks for a fresh
    connection), ``proxy`` as ``http://host:port`` tunnelled with CONNECT.

    ``requests`` counts the exchanges sent (for tests and diagnostics)."""

    def __init__(self, ca_file: Optional[str] = None, proxy: Optional[str] = None,
                 context: Optional[ssl.SSLContext] = None, chunk_size: int = 65536) -> None:
        self.context = context or ssl.create_default_context(cafile=os.fspath(ca_file) if ca_file else None)
        self.proxy = urllib.parse.urlsplit(proxy) if proxy else None
        self.chunk_size = chunk_size
        self.requests = 0
        self._conn: Optional[http.client.HTTPSConnection] = None
        self._target: Optional[Tuple[str, int]] = None

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self, host: str, port: int, timeout: float) -> http.client.HTTPSConnection:
        if self.proxy is not None:
            conn = http.client.HTTPSConnection(self.proxy.hostname or "", self.proxy.port or 8080,
                                               timeout=timeout, context=self.context)
            conn.set_tunnel(host, port)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self.context)
        try:
            conn.connect()
        except ssl.SSLError as e:
            conn.close()
            raise TransportError(Status.ETLS, "TLS handshake with %s:%d failed: %s" % (host, port, e), False)
        except ssl.CertificateError as e:  # pragma: no cover - a subclass of SSLError on 3.7+
            conn.close()
            raise TransportError(Status.ETLS, "certificate of %s:%d: %s" % (host, port, e), False)
        except socket.timeout:
            conn.close()
            raise TransportError(Status.ETIMEOUT, "connecting to %s:%d timed out" % (host, port), False)
        except OSError as e:
            conn.close()
            raise TransportError(Status.ENETWORK, "cannot connect to %s:%d: %s" % (host, port, e), False)
        return conn

    def send(self, request: Request, response: Response) -> None:
        """One HTTP exchange over the kept-alive connection (a fresh one when asked), TLS verified."""
        u = urllib.parse.urlsplit(request.url)
        if u.scheme != "https" or not u.hostname:
            raise TransportError(Status.ENETWORK, "HttpTransport sends https:// URLs only", False)
        target = (u.hostname, u.port or 443)
        if request.fresh_connection or self._target != target:
            self.close()
        if self._conn is None:
            self._conn = self._connect(target[0], target[1], request.connect_timeout)
            self._target = target
        conn = self._conn
        assert conn.sock is not None
        conn.sock.settimeout(request.timeout)
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.requests += 1
        try:
            conn.putrequest(request.method, path, skip_accept_encoding=True)
            for name, value in request.headers:
                conn.putheader(name, value)
            if request.parts is not None:
                ctype, length, chunks = request.multipart()
                conn.putheader("Content-Type", ctype)
                conn.putheader("Content-Length", str(length))
                conn.endheaders()
                for c in chunks:
                    conn.send(c)
            else:
                body = request.body or b""
                if request.content_type:
                    conn.putheader("Content-Type", request.content_type)
                if request.body is not None or request.method in ("POST", "PUT"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
            r = conn.getresponse()
            response.set_status(r.status)
            for name, value in r.getheaders():
                response.add_header(name, value)
            while True:
                chunk = r.read(self.chunk_size)
                if not chunk:
                    break
                response.write(chunk)
            if r.will_close:
                self.close()
        except TransportError:
            self.close()
            raise
        except socket.timeout as e:
            self.close()
            raise TransportError(Status.ETIMEOUT, "%s %s timed out: %s" % (request.method, path, e))
        except ssl.SSLError as e:
            self.close()
            raise TransportError(Status.ETLS, "TLS failed during %s %s: %s" % (request.method, path, e))
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise TransportError(Status.ENETWORK, "%s %s: %s: %s" % (request.method, path, type(e).__name__, e))
        except BaseException:
            self.close()
            raise


__all__ = ["Transport", "HttpTransport", "TransportError", "Request", "Response", "Part"]
