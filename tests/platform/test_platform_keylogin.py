# SPDX-License-Identifier: MIT
"""证书登录 (doc/protocol.md §18): a login challenge signed by the key of a certificate the platform
issued; every refusal once."""
import hashlib
import time

import pytest

from platform_client import PERSON, Renewal, b64, ec_key, make_csr, rsa_key, sign, unb64


def message(ch, cert_der, host):
    return (b"ZRCA-LOGIN-V1\x00" + unb64(ch["nonce"]) + hashlib.sha256(cert_der).digest()
            + ch["challenge_id"].encode() + b"\x00" + host.encode())


def challenge(platform):
    r = platform.client().call("POST", "/api/v1/session/challenge", {})
    assert r.status == 201, r
    return r.json


def host_of(platform):
    return platform.url[len("https://"):].lower()


def key_login(platform, key, cert_der, ch=None, host=None, sig=None, extra=None):
    ch = ch or challenge(platform)
    body = {"certificate": b64(cert_der), "challenge_id": ch["challenge_id"],
            "signature": b64(sig if sig is not None else sign(key, message(ch, cert_der, host or host_of(platform))))}
    body.update(extra or {})
    return platform.client().call("POST", "/api/v1/session", body)


def error(res, status, code):
    assert res.status == status, res
    assert res.json["error"]["code"] == code, res
    return res.json["error"]


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_key_login(platform, kind):
    key = ec_key() if kind == "ec" else rsa_key(2048)
    r = Renewal(platform, key=key, approve=False)
    ch = challenge(platform)
    assert set(ch) == {"challenge_id", "nonce", "expires_at"}
    assert len(unb64(ch["nonce"])) == 32
    res = key_login(platform, key, r.old_der, ch)
    assert res.status == 201, res
    body = res.json
    assert body["method"] == "certificate" and body["account"] == "acme" and body["role"] == "tenderer"
    assert body["certificate"] == {"serial": r.old_serial, "kind": "personal", "holder": PERSON[0],
                                   "holder_id_number": PERSON[1], "enterprise": "测试acme有限公司"}
    # the session is the account's: its reads and its orders
    c = platform.client(body["token"])
    assert c.get("/api/v1/account").json["account"] == "acme"
    assert c.get("/api/v1/orders/" + r.number).status == 200
    # the password login says its method too
    pw = platform.client().call("POST", "/api/v1/session", {"account": "acme", "password": "Passw0rd!"})
    assert pw.json["method"] == "password" and "certificate" not in pw.json
    # single use: the same challenge again
    error(key_login(platform, key, r.old_der, ch), 401, "invalid_challenge")


def test_key_session_renews_its_certificate(platform):
    """A certificate session runs the whole update of its holder's item: challenge, issue, confirm."""
    key = ec_key()
    r = Renewal(platform, key=key)
    res = key_login(platform, key, r.old_der)
    r.client = platform.client(res.json["token"])
    new_key, issued = r.issue()
    assert issued.status == 201, issued
    conf = r.client.post(r.path("/confirm"), {"serial": issued.json["serial"]})
    assert conf.status == 200, conf
    # the old certificate is superseded: it cannot log in any more; the new one can
    err = error(key_login(platform, key, r.old_der), 401, "certificate_not_current")
    assert "superseded" in err["message"]
    new_der = unb64(issued.json["certificate"])
    ok = key_login(platform, new_key, new_der)
    assert ok.status == 201 and ok.json["certificate"]["serial"] == issued.json["serial"]


def test_wrong_signature_and_other_key(platform):
    key = ec_key()
    r = Renewal(platform, key=key, approve=False)
    ch = challenge(platform)
    bad = bytearray(sign(key, message(ch, r.old_der, host_of(platform))))
    error(key_login(platform, key, r.old_der, ch, sig=bytes(bad[:-1])), 401, "invalid_credentials")
    # another key signs for this certificate
    error(key_login(platform, ec_key(), r.old_der), 401, "invalid_credentials")
    # signed for another host (a relay): refused
    error(key_login(platform, key, r.old_der, host="platform.example:443"), 401, "invalid_credentials")
    # ... also when the relay sends the Host header it had the victim sign: the platform compares
    # with its own public host names, never the request's header
    ch = challenge(platform)
    body = {"certificate": b64(r.old_der), "challenge_id": ch["challenge_id"],
            "signature": b64(sign(key, message(ch, r.old_der, "platform-evil.example")))}
    error(platform.client().call("POST", "/api/v1/session", body, headers={"Host": "platform-evil.example"}),
          401, "invalid_credentials")
    # the platform's own names are taken, whichever of them the client used
    port = platform.url.rsplit(":", 1)[1]
    for name in ("localhost:" + port, "127.0.0.1:" + port):
        assert key_login(platform, key, r.old_der, host=name).status == 201
    # signed over another challenge's nonce
    ch1, ch2 = challenge(platform), challenge(platform)
    sig = sign(key, message(ch1, r.old_der, host_of(platform)))
    error(key_login(platform, key, r.old_der, ch2, sig=sig), 401, "invalid_credentials")
    # the first challenge was not used by that: it still logs in
    assert key_login(platform, key, r.old_der, ch1, sig=sig).status == 201


def test_unknown_and_other_accounts_certificate(platform):
    key = ec_key()
    r = Renewal(platform, key=key, approve=False)
    # a certificate the platform did not issue: a self-made one with the same key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    import datetime as dt
    now = dt.datetime.utcnow()
    old = x509.load_der_x509_certificate(r.old_der)
    fake = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(old.subject)
            .public_key(key.public_key()).serial_number(old.serial_number)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=10))
            .sign(key, hashes.SHA256())).public_bytes(serialization.Encoding.DER)
    error(key_login(platform, key, fake), 401, "invalid_credentials")
    # another account's certificate: logs in as that account, never as acme
    key2 = ec_key()
    platform.create_account("beta")
    prov = platform.provision("beta", "org", key2)
    res = key_login(platform, key2, unb64(prov["certificate"]))
    assert res.status == 201 and res.json["account"] == "beta"
    assert res.json["certificate"]["kind"] == "org"
    c = platform.client(res.json["token"])
    assert c.get("/api/v1/orders/" + r.number).status == 404
    # beta's key cannot sign for acme's certificate
    error(key_login(platform, key2, r.old_der), 401, "invalid_credentials")


def test_expired_and_revoked_certificates(platform):
    key = ec_key()
    platform.create_account("acme")
    past = platform.provision("acme", "org", key, not_before="2020-01-01T00:00:00Z",
                              not_after="2021-01-01T00:00:00Z")
    err = error(key_login(platform, key, unb64(past["certificate"])), 401, "certificate_not_current")
    assert "expired" in err["message"]
    # revoked: an issued certificate the operator reissues (the first becomes revoked)
    key = ec_key()
    r = Renewal(platform, key=key, account="gamma")
    new_key, issued = r.issue()
    assert issued.status == 201
    first = unb64(issued.json["certificate"])
    # pending_confirmation cannot log in
    err = error(key_login(platform, new_key, first), 401, "certificate_not_current")
    assert "pending_confirmation" in err["message"]
    ri = platform.op.post("/api/v1/operator/orders/%s/items/1/reissue" % r.number, {})
    assert ri.status == 201, ri
    err = error(key_login(platform, new_key, first), 401, "certificate_not_current")
    assert "revoked" in err["message"]
    # release revokes the reissued one too
    second = unb64(ri.json["certificate"])
    assert platform.op.post("/api/v1/operator/orders/%s/items/1/release" % r.number, {}).status == 200
    assert "revoked" in error(key_login(platform, new_key, second), 401, "certificate_not_current")["message"]
    # the old certificate still logs in
    assert key_login(platform, key, r.old_der).status == 201


def test_expired_and_unknown_challenges(platform):
    key = ec_key()
    r = Renewal(platform, key=key, approve=False)
    platform.settings(login_challenge_ttl=1)
    ch = challenge(platform)
    time.sleep(1.2)
    error(key_login(platform, key, r.old_der, ch), 401, "invalid_challenge")
    platform.settings(login_challenge_ttl=120)
    error(key_login(platform, key, r.old_der, {"challenge_id": "lc_nope", "nonce": b64(b"\0" * 32)}), 401,
          "invalid_challenge")
    # an order item's update challenge is no login challenge
    item_ch = Renewal.attach(platform, platform.login("acme", "Passw0rd!"), r.number).client.post(
        "/api/v1/orders/%s/items/1/challenge" % r.number, {}, key=None)
    assert item_ch.status == 409  # not approved: no update challenge at all
    # a failed login uses the challenge up: no second guess
    ch = challenge(platform)
    error(key_login(platform, key, r.old_der, ch, sig=b"\x30\x00"), 401, "invalid_credentials")
    error(key_login(platform, key, r.old_der, ch), 401, "invalid_challenge")


def test_cap_on_open_challenges(platform):
    platform.settings(login_challenges_max=5, login_challenge_ttl=2)
    for _ in range(5):
        challenge(platform)
    res = platform.client().call("POST", "/api/v1/session/challenge", {})
    error(res, 429, "too_many_challenges")
    assert 1 <= int(res.headers["retry-after"]) <= 3
    time.sleep(2.1)
    assert platform.client().call("POST", "/api/v1/session/challenge", {}).status == 201


def test_shapes(platform):
    key = ec_key()
    r = Renewal(platform, key=key, approve=False)
    ch = challenge(platform)
    body = {"certificate": b64(r.old_der), "challenge_id": ch["challenge_id"],
            "signature": b64(sign(key, message(ch, r.old_der, host_of(platform))))}
    c = platform.client()
    for mix in ({"account": "acme"}, {"password": "Passw0rd!"}, {"account": "acme", "password": "Passw0rd!"}):
        res = c.call("POST", "/api/v1/session", dict(body, **mix))
        err = error(res, 422, "validation_failed")
        assert err["rule"] == "one_of"
    res = c.call("POST", "/api/v1/session", dict(body, extra=1))
    assert error(res, 422, "validation_failed")["rule"] == "unknown_field"
    for k in ("certificate", "challenge_id", "signature"):
        part = {x: v for x, v in body.items() if x != k}
        assert error(c.call("POST", "/api/v1/session", part), 422, "validation_failed")["field"] == k
    res = c.call("POST", "/api/v1/session", dict(body, certificate="!!"))
    assert error(res, 422, "validation_failed")["rule"] == "base64"
    res = c.call("POST", "/api/v1/session", dict(body, certificate=b64(make_csr(key))))
    assert error(res, 422, "validation_failed")["rule"] == "der"
    # none of that used the challenge up
    assert c.call("POST", "/api/v1/session", body).status == 201
    # the challenge takes no fields
    res = c.call("POST", "/api/v1/session/challenge", {"x": 1})
    assert error(res, 422, "validation_failed")["rule"] == "unknown_field"


def test_public_host_names(tmp_path):
    """--public-host: a signature must name one of the configured names (a platform behind a proxy),
    not the address it listens on."""
    from platform_client import Platform
    p = Platform(tmp_path / "data", extra=["--public-host", "Platform.Example.CN", "--public-host", "ca.example:8443"])
    try:
        key = ec_key()
        r = Renewal(p, key=key)
        assert key_login(p, key, r.old_der, host="platform.example.cn").status == 201
        assert key_login(p, key, r.old_der, host="ca.example:8443").status == 201
        error(key_login(p, key, r.old_der, host=host_of(p)), 401, "invalid_credentials")
        error(key_login(p, key, r.old_der, host="platform.example.cn:8443"), 401, "invalid_credentials")
    finally:
        p.stop()
