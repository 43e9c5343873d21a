# SPDX-License-Identifier: MIT
"""回执打印: the receipt of an order is a PDF a person prints. Its first page, rendered by poppler,
is not blank, carries the order number, the amounts and the Chinese text (the font is embedded);
an unpaid order has no receipt; another account's order is not found."""
import os
import shutil
import subprocess

import pytest

from test_platform_orders import new_order, pay

pytestmark = pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("pdftotext")),
                                reason="poppler-utils (scripts/deps.sh) is not installed")


def rendered_ink(pdf_path, tmp_path):
    """The share of non-white pixels of page 1, rendered in grey at 40 dpi (a PGM read by hand)."""
    out = str(tmp_path / "page")
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-gray", pdf_path, out], check=True)
    pgm = [f for f in os.listdir(tmp_path) if f.startswith("page") and f.endswith(".pgm")]
    assert len(pgm) == 1, pgm
    data = open(os.path.join(tmp_path, pgm[0]), "rb").read()
    # P5 <w> <h> <max>\n<bytes>
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P5"
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h]
    assert len(pixels) == w * h and w > 200 and h > 300  # A4 at 40 dpi: 331 x 468
    return sum(1 for p in pixels if p < 200) / float(w * h)


def text_of(pdf_path):
    return subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", pdf_path, "-"], check=True,
                          capture_output=True).stdout.decode("utf-8")


def test_receipt_of_a_paid_order(platform, tmp_path):
    c = platform.create_account("acme")
    o = new_order(c)
    r = c.get("/api/v1/orders/%s/receipt" % o["number"])
    assert (r.status, r.error["code"]) == (409, "not_paid")
    assert pay(c, o).status == 200
    r = c.get("/api/v1/orders/%s/receipt" % o["number"])
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/pdf"
    assert o["number"] in r.header("Content-Disposition")
    assert r.body.startswith(b"%PDF-") and b"%%EOF" in r.body[-1024:]
    path = str(tmp_path / "receipt.pdf")
    with open(path, "wb") as f:
        f.write(r.body)
    # The font is embedded: the page draws the same on a machine without it.
    fonts = subprocess.run(["pdffonts", path], check=True, capture_output=True).stdout.decode()
    wqy = [line for line in fonts.splitlines() if "WenQuanYi" in line]
    assert wqy and " yes " in wqy[0], fonts
    ink = rendered_ink(path, tmp_path)
    assert 0.01 < ink < 0.5, ink  # text, a table and a stamp: neither blank nor black
    text = text_of(path)
    assert o["number"] in text
    for words in ("业务回执", "订单编号", "新购", "合计金额", "支付宝", "已支付", "业务专用章"):
        assert words in text, (words, text)
    assert "¥%d.%02d" % (o["amount_fen"] // 100, o["amount_fen"] % 100) in text
    for it in o["items"]:
        assert it["holder"] in text, (it["holder"], text)


def test_receipt_not_for_others(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    assert pay(c, o).status == 200
    other = platform.create_account("other")
    assert other.get("/api/v1/orders/%s/receipt" % o["number"]).status == 404
    assert c.get("/api/v1/orders/NOPE/receipt").status == 404
    assert platform.client().get("/api/v1/orders/%s/receipt" % o["number"]).status == 401

