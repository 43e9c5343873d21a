# SPDX-License-Identifier: MIT
"""回执打印: an order's receipt as a one-page A4 PDF a person prints: the order, its items, the
amounts, the payment and the platform's stamp, in Chinese, with the font embedded (so that any
viewer draws the same glyphs). Made with reportlab (Debian's python3-reportlab) and the WenQuanYi
Micro Hei font (fonts-wqy-microhei)."""
from __future__ import annotations

import io
import math
import os

FONT_PATHS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",)
FONT_NAME = "ZRCA-WQY"

_registered = False


def font_path():
    for p in FONT_PATHS:
        if os.path.exists(p):
            return p
    return None


def available():
    """Whether receipts can be made here (reportlab and the font installed)."""
    try:
        import reportlab  # noqa: F401
    except ImportError:
        return False
    return font_path() is not None


def _register():
    global _registered
    if _registered:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    pdfmetrics.registerFont(TTFont(FONT_NAME, font_path(), subfontIndex=0))
    _registered = True


PAY_CN = {"alipay": "支付宝", "wechat_pay": "微信支付", "bank_transfer": "银行转账", None: "—"}
PAYMENT_STATUS_CN = {"paid": "已支付", "not_required": "无需支付", "unpaid": "未支付"}
KIND_CN = {"org": "企业机构证书", "legal_rep": "法定代表人证书", "personal": "其他个人证书"}
BUSINESS_CN = {"renewal": "续期", "new": "新购"}


def yuan(fen):
    return "¥%d.%02d" % (fen // 100, fen % 100)


def _stamp(c, x, y, r, text, bottom):
    """The platform's round red stamp: a ring, a star, the name around the top, a line below."""
    c.saveState()
    c.setStrokeColorRGB(0.8, 0.05, 0.05)
    c.setFillColorRGB(0.8, 0.05, 0.05)
    c.setLineWidth(2.5)
    c.circle(x, y, r)
    # A five-pointed star in the middle.
    pts = []
    for i in range(10):
        a = math.pi / 2 + i * math.pi / 5
        rr = r * (0.28 if i % 2 == 0 else 0.11)
        pts.append((x + rr * math.cos(a), y + rr * math.sin(a)))
    p = c.beginPath()
    p.moveTo(*pts[0])
    for q in pts[1:]:
        p.lineTo(*q)
    p.close()
    c.drawPath(p, stroke=0, fill=1)
    # The name along the upper arc, each character turned to face outwards.
    size = r * 0.2
    c.setFont(FONT_NAME, size)
    n = len(text)
    span = math.radians(220)
    for i, ch in enumerate(text):
        a = math.pi / 2 + span / 2 - span * (i + 0.5) / n
        c.saveState()
        c.translate(x + (r - size * 1.1) * math.cos(a), y + (r - size * 1.1) * math.sin(a))
        c.rotate(math.degrees(a) - 90)
        c.drawCentredString(0, -size * 0.35, ch)
        c.restoreState()
    c.setFont(FONT_NAME, size * 0.95)
    c.drawCentredString(x, y - r * 0.55, bottom)
    c.restoreState()


def make(order, account, enterprise, platform_name, issued_at):
    """The receipt of `order` (the platform's order JSON) as PDF bytes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    _register()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle("回执 %s" % order["number"])
    c.setAuthor(platform_name)
    c.setSubject("order %s receipt" % order["number"])
    w, h = A4
    left, top = 56, h - 64
    c.setFont(FONT_NAME, 20)
    c.drawCentredString(w / 2, top, "数字证书服务 业务回执")
    c.setFont(FONT_NAME, 10)
    c.drawCentredString(w / 2, top - 20, platform_name)
    y = top - 56
    rows = [
        ("订单编号", order["number"]),
        ("办理类型", BUSINESS_CN.get(order["business"], order["business"])),
        ("申请单位", enterprise or "—"),
        ("账号", account),
        ("创建时间", order["created_at"]),
        ("数字证书签发机构", order["issuer"]),
        ("支付状态", PAYMENT_STATUS_CN.get(order["payment_status"], order["payment_status"])),
        ("支付方式", PAY_CN.get(order["payment_method"], order["payment_method"] or "—")),
        ("支付时间", order["paid_at"] or "—"),
    ]
    c.setFont(FONT_NAME, 11)
    for k, v in rows:
        c.drawString(left, y, "%s:" % k)
        c.drawString(left + 130, y, str(v))
        y -= 19
    y -= 10
    c.setLineWidth(0.8)
    cols = [left, left + 30, left + 150, left + 270, left + 340, left + 400]
    heads = ["序号", "证书类型", "持有人", "年限", "数量", "金额"]
    c.line(left, y + 14, w - left, y + 14)
    for x, t in zip(cols, heads):
        c.drawString(x, y, t)
    c.line(left, y - 6, w - left, y - 6)
    y -= 24
    for it in order["items"]:
        vals = [str(it["index"]), KIND_CN.get(it["kind"], it["kind"]), it["holder"], "%d年" % it["years"],
                str(it["quantity"]), yuan(it["price_fen"])]
        for x, t in zip(cols, vals):
            c.drawString(x, y, t)
        y -= 19
        if y < 200:
            break
    c.line(left, y + 8, w - left, y + 8)
    c.setFont(FONT_NAME, 13)
    c.drawString(left, y - 14, "合计金额: %s (%d 项)" % (yuan(order["amount_fen"]), len(order["items"])))
    c.setFont(FONT_NAME, 9)
    c.drawString(left, 90, "本回执由平台生成, 开具时间 %s。订单编号 %s。" % (issued_at, order["number"]))
    c.drawString(left, 76, "如需发票, 请在平台申请。")
    _stamp(c, w - left - 70, 150, 58, platform_name[:12], "业务专用章")
    c.showPage()
    c.save()
    return buf.getvalue()
