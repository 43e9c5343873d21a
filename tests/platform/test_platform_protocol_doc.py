# SPDX-License-Identifier: MIT
"""doc/protocol.md names everything the server does: every route, error code, rule and fault endpoint."""
import os
import re

from zrca_platform import server

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "doc", "protocol.md")
SOURCES = [os.path.join(HERE, "zrca_platform", f) for f in ("server.py", "service.py", "util.py",
                                                                          "keylogin.py", "revocation.py", "kmc.py",
                                                                          "newcert.py")]


def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def source():
    return "\n".join(open(p, encoding="utf-8").read() for p in SOURCES)


def test_every_route_is_documented():
    text = doc()
    for method, pattern, *_ in server.ROUTES:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "{%s}" % {"number": "number", "idx": "i", "account": "account",
                                                                 "fault": "id", "rid": "id"}[m.group(1)],
                      pattern).replace("\\.", ".")
        short = path.replace("/api/v1/operator", "…") if "operator" in path else path
        assert path in text or short.split("/")[-1] in text, (method, path)
        assert method in text


def test_every_error_code_is_documented():
    text = doc()
    src = source()
    codes = set(re.findall(r'ApiError\(\s*\d+,\s*"(\w+)"', src)) | set(re.findall(r'conflict\(\s*"(\w+)"', src))
    codes |= {"bad_request", "request_timeout", "uri_too_long", "headers_too_large"} & set(re.findall(r'"(\w+)"',
                                                                                                   src))
    assert len(codes) > 20
    missing = [c for c in sorted(codes) if "`%s`" % c not in text]
    assert not missing, missing


def test_every_rule_is_documented():
    text = doc()
    src = source()
    rules = set(re.findall(r'v\.add\([^,]+,\s*"(\w+)"', src)) | set(re.findall(
        r'validation_error\(\s*"[^"]*",\s*"(\w+)"', src)) | {"format", "region", "birth_date", "check_digit"}
    missing = [r for r in sorted(rules) if "`%s`" % r not in text]
    assert not missing, missing


def test_every_fault_endpoint_is_documented():
    text = doc()
    section = text[text.index("## 13."):text.index("## 14.")]
    for name in server.ENDPOINT_NAMES:
        assert "`%s`" % name in section, name


def test_proof_and_seal_layouts_are_written_down():
    text = doc()
    assert "ZRCA-RENEW-PROOF-V1" in text and "ZRCA-SEAL-V1" in text
    assert "`Demo-2026!`" in text and "3145728" in text
