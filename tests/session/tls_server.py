#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A TLS server with a chosen certificate problem, for the session tests.

Usage: tls_server.py DIR MODE   (MODE: good, unknown_ca, expired, wrong_host)
Writes DIR/ca.pem (the CA a client should trust) and serves HTTPS on
127.0.0.1:0 with a server certificate that is fine (good), issued by another
CA (unknown_ca), expired (expired) or for another host name (wrong_host).
Prints {"port": N, "ca_file": "..."} once listening. Any request gets
200 with the JSON body {}.
"""
import datetime
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, hosts, expired):
    key = ec.generate_private_key(ec.SECP256R1())
    nb = NOW - datetime.timedelta(days=10 if expired else 1)
    na = NOW - datetime.timedelta(days=2) if expired else NOW + datetime.timedelta(days=10)
    san = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
    cert = (x509.CertificateBuilder().subject_name(name(hosts[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def pem_write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    d, mode = sys.argv[1], sys.argv[2]
    ca_key, ca = make_ca("ZRCA test trusted CA")
    issuer_key, issuer = (make_ca("ZRCA test unknown CA") if mode == "unknown_ca" else (ca_key, ca))
    hosts = ["other.example"] if mode == "wrong_host" else ["127.0.0.1", "localhost"]
    key, cert = make_leaf(issuer_key, issuer, hosts, mode == "expired")
    pem_write(os.path.join(d, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    pem_write(os.path.join(d, "server.pem"), cert.public_bytes(serialization.Encoding.PEM))
    pem_write(os.path.join(d, "server.key"), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(json.dumps({"port": srv.getsockname()[1], "ca_file": os.path.join(d, "ca.pem")}), flush=True)

    def serve(c):
        try:
            s = ctx.wrap_socket(c, server_side=True)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return
                buf += chunk
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                      b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
            s.close()
        except (OSError, ssl.SSLError):
            c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
