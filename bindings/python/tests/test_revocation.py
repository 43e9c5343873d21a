# SPDX-License-Identifier: MIT
"""Revocation through the bindings (doc/protocol.md §17): a request signed by the key on SoftHSM and
one without the key, the history, the CRL before and after the approval, local validation, a
stale CRL refused, and the renewal of a revoked certificate refused with zrca.Revoked."""
from __future__ import annotations

import datetime as dt

import pytest

import zrca
from support import USER_PIN


def approve(w, rid):
    w.platform.operator("POST", "/revocations/%d/review" % rid, {"decision": "approve"})


def test_signed_and_unsigned_revocation_and_crl(make_world):
    w = make_world(kind=zrca.CertKind.PERSONAL, days=200)
    with w.session() as s, w.token() as t:
        t.login(USER_PIN)
        with t.certificates() as certs:
            cert = certs[0]
            der = cert.der
            crl = zrca.Crl.fetch(s)
            assert crl.check(cert) == zrca.CrlStatus(False, None, None)
            assert crl.next_update > dt.datetime.now(dt.timezone.utc)
            crl.close()
            # local validation: nothing sent
            with pytest.raises(zrca.ValidationError) as ei:
                zrca.revocation.validate(w.old_serial.upper(), "key_lost")
            assert ei.value.field == "serial" and ei.value.rule == "format"
            with pytest.raises(zrca.ValidationError) as ei:
                zrca.revoke(s, w.old_serial, zrca.RevokeReason.KEY_LOST, "x" * 201)
            assert ei.value.rule == "max_length"
            assert zrca.revocations(s) == []
            with cert.key() as key:
                r = zrca.revoke(s, w.old_serial, "key_compromised", "钥匙借出", key=key, certificate=cert)
        assert r.signed and r.status == zrca.RevocationStatus.PENDING and r.serial == w.old_serial
        assert r.reason == zrca.RevokeReason.KEY_COMPROMISED and r.reason.wire_name == "key_compromised"
        with pytest.raises(zrca.Conflict) as ei:
            zrca.revoke(s, w.old_serial, "key_lost")
        assert ei.value.rule == "request_pending"
        approve(w, r.id)
        got = zrca.revocation_request(s, r.id)
        assert got.status == zrca.RevocationStatus.APPROVED and got.status.label == "已吊销"
        assert [x.id for x in zrca.revocations(s)] == [r.id]
        with zrca.Crl.fetch(s) as crl:
            st = crl.check(der)
            assert st.revoked and st.reason == "keyCompromise" and st.revoked_at is not None
        assert [c.status for c in s.certificates() if c.serial == w.old_serial] == [zrca.CertStatus.REVOKED]
        # A stale CRL is an error, not "good".
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
        w.platform.operator("POST", "/crl", {"this_update": past.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                             "next_update": (past + dt.timedelta(days=1)).strftime(
                                                 "%Y-%m-%dT%H:%M:%SZ")})
        with pytest.raises(zrca.VerifyError) as ei:
            zrca.Crl.fetch(s)
        assert ei.value.rule == "stale"


def test_renewal_of_revoked_refused(approved, pins):
    w = approved(kind=zrca.CertKind.PERSONAL)
    with w.session() as s:
        r = zrca.revoke(s, w.old_serial, zrca.RevokeReason.KEY_LOST)
        assert not r.signed
        approve(w, r.id)
        order = s.order(w.order_number)
        with w.token() as token:
            with pytest.raises(zrca.Revoked) as ei:
                order.items[0].update(token, pin=pins())
            assert ei.value.status is zrca.Status.EREVOKED and ei.value.code == -37


def test_crl_of_an_sm2_certificate(make_world, tmp_path):
    """An SM2 certificate is covered by the SM2 CA's CRL, which its distribution point names
    (Crl.fetch(certificate=...)), not by the issuing CA's; revoked, it is listed there."""
    import base64

    from zrca.enums import Backend, KeyType

    w = make_world(kind=zrca.CertKind.PERSONAL, days=200)
    d = tmp_path / "sm2soft"
    zrca.create_softtoken(d, label="sm2", user_pin=USER_PIN, so_pin="13579135", kdf_iterations=1000)
    # The platform's EC and SM2 roots (its start line's roots_file): an SM2 CA chains to the latter.
    roots = w.platform.roots_file
    with zrca.Token(backend=Backend.SOFT, soft_dir=d) as t, w.session(issuer_ca_file=roots) as s:
        t.login(USER_PIN)
        with t.generate_key(KeyType.SM2, 256, "sm2") as k:
            not_after = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=200)).replace(
                hour=0, minute=0, second=0, microsecond=0)
            r = w.platform.provision(w.account, "personal", k.make_csr("CN=p"), not_after,
                                     holder_name="林晓雯", holder_id=w.holder_id, key_serial="sm2")
            der = base64.b64decode(r["certificate"])
            k.write_cert(der, "林晓雯")
        with zrca.Crl.fetch(s) as crl, pytest.raises(zrca.VerifyError) as ei:
            crl.check(der)
        assert ei.value.rule == "issuer"
        with zrca.Crl.fetch(s, certificate=der) as crl:
            assert crl.check(der) == zrca.CrlStatus(False, None, None)
        serial = r["serial"].lower()
        rq = zrca.revoke(s, serial, zrca.RevokeReason.KEY_LOST)
        approve(w, rq.id)
        with zrca.Crl.fetch(s, certificate=der) as crl:
            st = crl.check(der)
            assert st.revoked and st.reason == "keyCompromise"
        with pytest.raises(zrca.InvalidArgument) as ei:
            zrca.Crl.fetch(s, certificate=b"not a certificate")
        assert ei.value.field == "certificate" and ei.value.rule == "der"
