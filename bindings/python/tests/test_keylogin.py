# SPDX-License-Identifier: MIT
"""证书登录 through the bindings: Session.login_key() with a SoftHSM certificate, the bound
certificate's accessors, a re-login after the platform's token expired (no PIN asked), an update
in a session that never saw a password, then the superseded certificate refused and the new one
accepted; the local refusals."""
from __future__ import annotations

import time

import pytest

import zrca
from support import USER_PIN


def test_login_key_and_update(approved, pins):
    w = approved(kind=zrca.CertKind.ORG)
    with w.token() as token, token.certificates() as certs:
        old = [c for c in certs if zrca.serial_cmp(c.serial, w.old_serial) == 0][0]
        s = zrca.Session(w.platform.url, **w.platform.session_options(state_dir=w.state_dir))
        with pytest.raises(zrca.StateError):  # the token is not logged in
            s.login_key(token, old)
        token.login(USER_PIN)
        s.login_key(token, old)
        assert s.login_method == zrca.LoginMethod.CERTIFICATE
        assert s.account == w.account and s.role == zrca.Role.TENDERER
        assert zrca.serial_cmp(s.cert_serial, w.old_serial) == 0
        assert s.cert_kind == zrca.CertKind.ORG and s.cert_holder == w.holder
        assert s.cert_enterprise == s.enterprise().name
        # the platform's token lives 2 s: the key logs in again by itself
        w.platform.operator("PUT", "/settings", {"token_ttl": 2})
        try:
            s.login_key(token, old)
            time.sleep(3)
            p = pins()
            with s.order(w.order_number) as order:
                result = order.items[0].update(token, pin=p)
        finally:
            w.platform.operator("PUT", "/settings", {"token_ttl": 3600})
        assert p.requests == []  # the token was logged in
        new_serial = result.serial
        s.close()
    with w.token() as token:
        token.login(USER_PIN)
        with token.certificates() as certs:
            old = [c for c in certs if zrca.serial_cmp(c.serial, w.old_serial) == 0][0]
            new = [c for c in certs if zrca.serial_cmp(c.serial, new_serial) == 0][0]
            s = zrca.Session(w.platform.url, **w.platform.session_options(state_dir=w.state_dir))
            with pytest.raises(zrca.AuthError) as e:
                s.login_key(token, old)
            assert e.value.remote_code == "certificate_not_current"
            assert s.login_method == zrca.LoginMethod.NONE
            s.login_key(token, new)
            assert zrca.serial_cmp(s.cert_serial, new_serial) == 0
            s.logout()
            assert s.login_method == zrca.LoginMethod.NONE and s.cert_serial is None
            s.close()


def test_login_key_refused_locally(make_world):
    w = make_world(days=0)  # ended at 00:00 UTC today
    with w.token() as token:
        with token.certificates() as certs:
            s = zrca.Session(w.platform.url, **w.platform.session_options(state_dir=w.state_dir))
            # refused before the token is even asked
            with pytest.raises(zrca.ValidationError) as e:
                s.login_key(token, certs[0])
            assert e.value.field == "certificate" and e.value.rule == "expired"
            s.close()
