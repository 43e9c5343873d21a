# SPDX-License-Identifier: MIT
"""An SM2 certification authority for the reference platform (GM/T 0003, 0004, 0009, 0010, 0015).

The Python `cryptography` package cannot load SM2 keys, so this module drives Debian's
OpenSSL 3 command line, which can: `openssl genpkey -algorithm SM2`, `openssl req` and
`openssl ca` with SM3 and the signer's distinguishing ID (`-sigopt distid:`), `openssl pkeyutl`
for raw SM2 signatures. Every call runs in its own temporary directory (the CA's database is
made afresh for each issuance), so that concurrent requests share nothing but the CA's files,
which are written once.

Facts this module relies on, checked against OpenSSL 3.0.x:

- an SM2 public key is an `id-ecPublicKey` SubjectPublicKeyInfo whose curve is
  `1.2.156.10197.1.301` (GM/T 0015 §7); the signature algorithm of a CSR or certificate is
  `SM2-with-SM3`, `1.2.156.10197.1.501`, with no parameters;
- an SM2 signature is the DER `SEQUENCE { r INTEGER, s INTEGER }` over SM3(Z || M), where Z
  hashes the signer's distinguishing ID, the curve and the public key (GM/T 0009 §5.4.2,
  default ID `1234567812345678`);
- `openssl verify` (and X509_verify_cert) checks an SM2 certificate's signature only when it is
  told the ID (`-vfyopt distid:...`, or X509_set0_distinguishing_id on each certificate): without
  it the signature is computed with an empty ID and fails. `openssl verify -vfyopt` sets the ID on
  the certificate being verified only, not on `-untrusted` intermediates: a library verifying an
  SM2 chain sets it on every certificate of the chain;
- `openssl req -verify` prints "verify failure" and still exits 0 in OpenSSL 3.0: never trust
  its exit status (this module verifies a request's signature with `openssl pkeyutl`).
"""
import hashlib
import os
import shutil
import subprocess
import tempfile

DEFAULT_ID = b"1234567812345678"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
_TIMEOUT = 30


class SM2Error(Exception):
    """A CSR, key or signature that is not what it should be; `rule` names the check."""

    def __init__(self, rule, message):
        super().__init__(message)
        self.rule = rule


# ---- a minimal DER reader: enough to find names and keys in CSRs and certificates -----------------

def _tlv(buf, pos):
    """(tag, header_len, content_start, end) of the DER element at `pos`; raises SM2Error."""
    if pos + 2 > len(buf):
        raise SM2Error("der", "truncated DER")
    tag = buf[pos]
    n = buf[pos + 1]
    p = pos + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or p + k > len(buf):
            raise SM2Error("der", "bad DER length")
        n = int.from_bytes(buf[p:p + k], "big")
        p += k
    if p + n > len(buf):
        raise SM2Error("der", "DER element runs past its container")
    return tag, p - pos, p, p + n


def _children(buf, start, end):
    out = []
    p = start
    while p < end:
        tag, _, c, e = _tlv(buf, p)
        out.append((tag, p, c, e))
        p = e
    return out


def _oid(content):
    if not content:
        raise SM2Error("der", "empty OID")
    first = content[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for b in content[1:]:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    return ".".join(str(a) for a in arcs)


def _sequence(buf):
    tag, _, c, e = _tlv(buf, 0)
    if tag != 0x30 or e != len(buf):
        raise SM2Error("der", "not one DER SEQUENCE")
    return _children(buf, c, e)


def _signed_parts(der):
    """(to-be-signed element bytes, its children, signature algorithm OID, signature bytes)."""
    top = _sequence(der)
    if len(top) != 3 or top[0][0] != 0x30 or top[1][0] != 0x30 or top[2][0] != 0x03:
        raise SM2Error("der", "not a signed DER structure")
    tbs = der[top[0][1]:top[0][3]]
    alg = _children(der, top[1][2], top[1][3])
    if not alg or alg[0][0] != 0x06:
        raise SM2Error("der", "no signature algorithm")
    sig_alg = _oid(der[alg[0][2]:alg[0][3]])
    bits = der[top[2][2]:top[2][3]]
    if not bits or bits[0] != 0:
        raise SM2Error("der", "signature BIT STRING with unused bits")
    return tbs, _children(der, top[0][2], top[0][3]), sig_alg, bits[1:]


def spki_is_sm2(spki_der):
    """True if this SubjectPublicKeyInfo is an EC key on the SM2 curve."""
    try:
        parts = _sequence(spki_der)
        alg = _children(spki_der, parts[0][2], parts[0][3])
        return (len(alg) == 2 and alg[0][0] == 0x06 and alg[1][0] == 0x06
                and _oid(spki_der[alg[0][2]:alg[0][3]]) == OID_EC_PUBLIC_KEY
                and _oid(spki_der[alg[1][2]:alg[1][3]]) == OID_SM2_CURVE)
    except (SM2Error, IndexError):
        return False


def csr_parts(csr_der):
    """(subject DER, SubjectPublicKeyInfo DER, signature algorithm OID) of a DER PKCS#10."""
    _, kids, sig_alg, _ = _signed_parts(csr_der)
    if len(kids) < 3 or kids[0][0] != 0x02 or kids[1][0] != 0x30 or kids[2][0] != 0x30:
        raise SM2Error("der", "not a PKCS#10 request")
    return csr_der[kids[1][1]:kids[1][3]], csr_der[kids[2][1]:kids[2][3]], sig_alg


def cert_parts(cert_der):
    """(subject DER, SubjectPublicKeyInfo DER, signature algorithm OID, serial int) of a certificate."""
    _, kids, sig_alg, _ = _signed_parts(cert_der)
    i = 1 if kids and kids[0][0] == 0xA0 else 0  # [0] version
    if len(kids) < i + 6 or kids[i][0] != 0x02:
        raise SM2Error("der", "not an X.509 certificate")
    serial = int.from_bytes(cert_der[kids[i][2]:kids[i][3]], "big", signed=True)
    subject = cert_der[kids[i + 4][1]:kids[i + 4][3]]
    spki = cert_der[kids[i + 5][1]:kids[i + 5][3]]
    return subject, spki, sig_alg, serial


# ---- the openssl command line -----------------------------------------------------------------

def _run(args, cwd, data=None):
    r = subprocess.run(["openssl"] + args, cwd=cwd, input=data, capture_output=True, timeout=_TIMEOUT)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def _pem(der, label):
    import base64
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


def _distid_opt(distid):
    if not distid or len(distid) > 64 or any(c < 0x21 or c > 0x7E or c in b":," for c in distid):
        raise SM2Error("distid", "the distinguishing ID must be 1-64 printable ASCII characters")
    return "distid:" + distid.decode("ascii")


def _time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def verify(spki_der, signature, message, distid=DEFAULT_ID):
    """SM2-with-SM3 signature (DER r,s) over `message` by the key of `spki_der`, with `distid`."""
    if not spki_is_sm2(spki_der):
        return False
    d = tempfile.mkdtemp(prefix="zrca-sm2-")
    try:
        for name, data in (("pub.pem", _pem(spki_der, "PUBLIC KEY")), ("sig", signature), ("msg", message)):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        rc, _, _ = _run(["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3",
                         "-pkeyopt", _distid_opt(distid), "-in", "msg", "-sigfile", "sig"], d)
        return rc == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


class SM2CA:
    """An SM2 root CA and issuing CA kept in DIR/sm2ca (made on first use), signing with `distid`."""

    def __init__(self, data_dir, distid=DEFAULT_ID):
        self.dir = os.path.join(data_dir, "sm2ca")
        self.distid = distid
        self._opt = _distid_opt(distid)
        self.root_pem = os.path.join(self.dir, "root.pem")
        self.issuing_pem = os.path.join(self.dir, "issuing.pem")
        self.issuing_key = os.path.join(self.dir, "issuing.key")
        self._ensure()
        self.root_der = self._der(self.root_pem)
        self.issuing_der = self._der(self.issuing_pem)

    def _der(self, pem_path):
        rc, out, err = _run(["x509", "-in", pem_path, "-outform", "DER"], self.dir)
        if rc != 0:
            raise SM2Error("ca", "cannot read %s: %s" % (pem_path, err.strip()))
        return out

    def _ensure(self):
        if os.path.exists(self.issuing_pem):
            return
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        d = tempfile.mkdtemp(prefix="make-", dir=self.dir)
        try:
            def ok(args):
                rc, _, err = _run(args, d)
                if rc != 0:
                    raise SM2Error("ca", "openssl %s: %s" % (args[0], err.strip()))
            with open(os.path.join(d, "ca.ext"), "w") as f:
                f.write("[req]\ndistinguished_name=dn\n[dn]\n"
                        "[root]\nbasicConstraints=critical,CA:TRUE,pathlen:1\n"
                        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                        "[issuing]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n"
                        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                        "authorityKeyIdentifier=keyid\n")
            ok(["genpkey", "-algorithm", "SM2", "-out", "root.key"])
            ok(["genpkey", "-algorithm", "SM2", "-out", "issuing.key"])
            ok(["req", "-new", "-x509", "-key", "root.key", "-sm3", "-sigopt", self._opt, "-days", "7300",
                "-subj", "/C=CN/O=ZRCA Reference Platform/CN=ZRCA Reference SM2 Root CA",
                "-config", "ca.ext", "-extensions", "root", "-set_serial", "1",
                "-out", "root.pem"])
            ok(["req", "-new", "-key", "issuing.key", "-sm3", "-sigopt", self._opt, "-config", "ca.ext",
                "-subj", "/C=CN/O=ZRCA Reference Platform/CN=ZRCA Reference SM2 Issuing CA", "-out", "iss.csr"])
            ok(["x509", "-req", "-in", "iss.csr", "-CA", "root.pem", "-CAkey", "root.key", "-sm3",
                "-sigopt", self._opt, "-vfyopt", self._opt, "-days", "5475", "-set_serial", "2",
                "-extfile", "ca.ext", "-extensions", "issuing", "-out", "issuing.pem"])
            for name in ("root.key", "issuing.key"):
                os.chmod(os.path.join(d, name), 0o600)
                os.replace(os.path.join(d, name), os.path.join(self.dir, name))
            os.replace(os.path.join(d, "root.pem"), self.root_pem)
            os.replace(os.path.join(d, "issuing.pem"), self.issuing_pem)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def check_csr(self, csr_der, distid=None):
        """(subject DER, SPKI DER) of an SM2 CSR whose self-signature verifies; raises SM2Error(rule)."""
        subject, spki, sig_alg = csr_parts(csr_der)
        if sig_alg != OID_SM2_WITH_SM3:
            raise SM2Error("signature_algorithm", "the request is not signed with SM2-with-SM3")
        if not spki_is_sm2(spki):
            raise SM2Error("key_algorithm", "the request's key is not an SM2 key")
        # not `openssl req -verify`: OpenSSL 3.0 prints "verify failure" and exits 0
        tbs, _, _, signature = _signed_parts(csr_der)
        if not verify(spki, signature, tbs, distid or self.distid):
            raise SM2Error("signature", "the request's SM2 signature does not verify")
        return subject, spki

    def issue(self, csr_der, serial, not_before, not_after, key_usage="digitalSignature,nonRepudiation",
              eku="clientAuth,emailProtection", crl_url=None, distid=None):
        """An end-entity certificate (DER) for an SM2 CSR, subject as in the request (same DER).

        `serial` is a positive int; `not_before`/`not_after` aware datetimes in UTC. The request's
        signature is checked with `distid` (the holder's ID; default the CA's).
        """
        self.check_csr(csr_der, distid)
        d = tempfile.mkdtemp(prefix="issue-", dir=self.dir)
        try:
            open(os.path.join(d, "index.txt"), "w").close()
            with open(os.path.join(d, "serial"), "w") as f:
                h = "%x" % serial
                f.write(("0" + h if len(h) % 2 else h) + "\n")
            ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical," + key_usage,
                   "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
            if eku:
                ext.append("extendedKeyUsage=" + eku)
            if crl_url:
                ext.append("crlDistributionPoints=URI:" + crl_url)
            with open(os.path.join(d, "ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca=zrca\n[zrca]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
                        "policy=pol\nunique_subject=no\ncopy_extensions=none\nemail_in_dn=no\n"
                        "x509_extensions=ext\ndefault_md=sm3\n[pol]\n[ext]\n" + "\n".join(ext) + "\n")
            with open(os.path.join(d, "req.der"), "wb") as f:
                f.write(csr_der)
            rc, _, err = _run(["req", "-inform", "DER", "-in", "req.der", "-out", "req.pem"], d)
            if rc != 0:
                raise SM2Error("der", "the request does not parse: " + err.strip())
            rc, _, err = _run(["ca", "-config", "ca.cnf", "-batch", "-notext", "-preserveDN", "-utf8",
                               "-in", "req.pem", "-cert", self.issuing_pem, "-keyfile", self.issuing_key,
                               "-sigopt", self._opt, "-vfyopt", _distid_opt(distid or self.distid),
                               "-startdate", _time(not_before), "-enddate", _time(not_after),
                               "-out", "cert.pem"], d)
            if rc != 0:
                raise SM2Error("ca", "openssl ca refused: " + err.strip())
            rc, der, err = _run(["x509", "-in", "cert.pem", "-outform", "DER"], d)
            if rc != 0:
                raise SM2Error("ca", err.strip())
            return der
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def sign(self, message):
        """SM2-with-SM3 signature (DER r,s) of the issuing CA over `message`, with the CA's ID."""
        d = tempfile.mkdtemp(prefix="sign-", dir=self.dir)
        try:
            with open(os.path.join(d, "msg"), "wb") as f:
                f.write(message)
            rc, out, err = _run(["pkeyutl", "-sign", "-inkey", self.issuing_key, "-rawin", "-digest", "sm3",
                                 "-pkeyopt", self._opt, "-in", "msg"], d)
            if rc != 0:
                raise SM2Error("ca", "openssl pkeyutl: " + err.strip())
            return out
        finally:
            shutil.rmtree(d, ignore_errors=True)


def sm3(data):
    """SM3 of `data` (hashlib when OpenSSL's SM3 is exposed to Python, else the command line)."""
    try:
        return hashlib.new("sm3", data).digest()
    except ValueError:
        r = subprocess.run(["openssl", "dgst", "-sm3", "-binary"], input=data, capture_output=True,
                           timeout=_TIMEOUT, check=True)
        return r.stdout
