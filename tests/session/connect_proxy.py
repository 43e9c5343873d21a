#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A tiny HTTP CONNECT proxy for the session tests, loopback only.

Usage: connect_proxy.py STATS_FILE
Prints {"port": N} once listening. Every tunnel it opens increments the
number in STATS_FILE, so a test can count the TCP connections a client
made to the platform through it. Only CONNECT to 127.0.0.1 is allowed.
"""
import json
import select
import socket
import sys
import threading

lock = threading.Lock()
tunnels = 0


def relay(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 120)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def handle(client, stats):
    global tunnels
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(line) != 3 or line[0] != "CONNECT" or not line[1].startswith("127.0.0.1:"):
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    try:
        upstream = socket.create_connection(("127.0.0.1", int(line[1].split(":")[1])))
    except OSError:
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    with lock:
        tunnels += 1
        with open(stats, "w") as f:
            f.write("%d\n" % tunnels)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        upstream.sendall(rest)
    relay(client, upstream)


def main():
    stats = sys.argv[1]
    with open(stats, "w") as f:
        f.write("0\n")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(json.dumps({"port": srv.getsockname()[1]}), flush=True)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c, stats), daemon=True).start()


if __name__ == "__main__":
    main()
