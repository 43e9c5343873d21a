# SPDX-License-Identifier: MIT
"""A transport written in Python (zrca.HttpTransport on http.client + ssl, and subclasses of
zrca.Transport) carrying whole flows: login, every read, a multipart submit with file parts
streamed, retries after platform faults, TLS verification, and a transport that raises."""
from __future__ import annotations

import pytest

import zrca
from support import PASSWORD


class Recording(zrca.HttpTransport):
    """HttpTransport that records each request (method, path, part names and how they came)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.log = []
        self.closed_calls = 0

    def send(self, request, response):
        parts = None
        if request.parts is not None:
            parts = [(p.name, p.path is not None, p.size) for p in request.parts]
        self.log.append((request.method, request.url.split("/api/v1", 1)[-1], parts,
                         dict(request.headers).get("Authorization", "")[:7]))
        super().send(request, response)

    def close(self):
        self.closed_calls += 1
        super().close()


def test_login_and_reads_through_a_python_transport(platform, make_world, scans):
    w = make_world(kind=zrca.CertKind.ORG)
    pdf, _ = scans
    t = Recording(ca_file=platform.ca_file)
    with w.session(transport=t) as s:
        assert s.account == w.account
        ent = s.enterprise()
        certs = s.certificates()
        assert [c.serial for c in certs] == [w.old_serial]
        assert certs[0].not_after == w.old_not_after
        fees = s.fees()
        assert len(fees) >= 1
        list(s.persons())
        list(s.notifications())
        # A multipart submit: the commitment letter is a file part, streamed.
        with s.new_application() as app:
            app.set_org()
            app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
            app.set_contact("许静怡", "13800138000", "xu@example.com")
            with app.submit() as order:
                number = order.number
                assert order.items[0].holder == ent.name
        assert [o.number for o in s.orders()] == [number]
        s.logout()
        assert s.account is None
    assert t.closed_calls >= 1                          # the session freed its transport
    methods = [(m, p) for m, p, _, _ in t.log]
    assert methods[0] == ("POST", "/session")
    assert ("GET", "/enterprise") in methods and ("GET", "/fees") in methods
    assert any(p.startswith("/certificates") for m, p in methods)
    assert methods[-1] == ("DELETE", "/session")
    [submit] = [x for x in t.log if x[1] == "/applications"]
    names = {n: (from_file, size) for n, from_file, size in submit[2]}
    assert names["application"][0] is False
    assert names[zrca.ATTACH_COMMITMENT_LETTER] == (True, pdf.stat().st_size)
    assert all(auth == "Bearer " for m, p, _, auth in t.log if p != "/session" or m == "DELETE")


def test_the_library_retries_through_a_python_transport(platform, make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    t = Recording(ca_file=platform.ca_file)
    with w.session(transport=t, retry_base=0.01) as s:
        platform.operator("POST", "/faults", {"endpoint": "enterprise.get", "kind": "drop_before", "count": 1})
        platform.operator("POST", "/faults", {"endpoint": "enterprise.get", "kind": "status", "status": 503,
                                              "count": 1})
        assert s.enterprise().name
    assert [p for _, p, _, _ in t.log].count("/enterprise") == 3


def test_tls_is_verified(platform, make_world, tmp_path):
    w = make_world(kind=zrca.CertKind.ORG)
    t = zrca.HttpTransport()                                     # the system's CAs: not the platform's
    with zrca.Session(platform.url, transport=t) as s:
        with pytest.raises(zrca.TLSError) as ei:
            s.login(w.account, PASSWORD)
        assert ei.value.code == zrca.Status.ETLS


class Failing(zrca.HttpTransport):
    def __init__(self, *a, fail_on, exc, **kw):
        super().__init__(*a, **kw)
        self.fail_on = fail_on
        self.exc = exc

    def send(self, request, response):
        if self.fail_on in request.url:
            raise self.exc
        super().send(request, response)


def test_a_transport_that_raises(platform, make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    t = Failing(ca_file=platform.ca_file, fail_on="/certificates", exc=KeyError("cache miss"))
    with w.session(transport=t) as s:
        with pytest.raises(KeyError) as ei:
            s.certificates()
        cause = ei.value.__cause__
        assert isinstance(cause, zrca.CallbackStopped) and cause.code == zrca.Status.EUSER
        assert s.enterprise().name                      # the session still works
    # A TransportError is the transport's own failure, mapped to the library's code.
    t = Failing(ca_file=platform.ca_file, fail_on="/fees",
                exc=zrca.TransportError(zrca.Status.ETIMEOUT, "the line went quiet", reached_server=True))
    with w.session(transport=t, retry_attempts=1) as s:
        with pytest.raises(zrca.Timeout, match="the line went quiet"):
            s.fees()


def test_response_size_cap(platform, make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    t = zrca.HttpTransport(ca_file=platform.ca_file, chunk_size=64)
    with w.session(transport=t) as s:
        certs_ok = len(s.certificates())
        assert certs_ok == 1
    with w.session(transport=zrca.HttpTransport(ca_file=platform.ca_file, chunk_size=64),
                   max_response_size=600, retry_attempts=1) as s:
        with pytest.raises(zrca.TooBig):
            s.certificates()
