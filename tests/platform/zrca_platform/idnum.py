# SPDX-License-Identifier: MIT
"""Chinese resident ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015)."""
import datetime as _dt
import re

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
PROVINCES = set(range(11, 16)) | set(range(21, 24)) | set(range(31, 38)) | set(range(41, 47)) \
    | set(range(50, 55)) | set(range(61, 66)) | {71, 81, 82}
_FORMAT = re.compile(r"^[0-9]{17}[0-9X]$")
PASSPORT = re.compile(r"^[A-Z0-9]{5,17}$")


def normalise(s):
    return s[:-1] + "X" if isinstance(s, str) and s.endswith("x") else s


def check_char(first17):
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def id_card_rule(s, today=None):
    """Return the first broken rule name (format, region, birth_date, check_digit) or None."""
    s = normalise(s)
    if not isinstance(s, str) or not _FORMAT.match(s):
        return "format"
    if int(s[:2]) not in PROVINCES:
        return "region"
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    try:
        born = _dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "birth_date"
    if born < _dt.date(1900, 1, 1) or born > today:
        return "birth_date"
    if check_char(s[:17]) != s[17]:
        return "check_digit"
    return None


RULE_TEXT = {
    "format": "must be 18 characters: 17 digits and a digit or X",
    "region": "first two digits are not a province code",
    "birth_date": "birth date (characters 7-14) is not a real past date",
    "check_digit": "check digit (GB 11643) is wrong",
}


def make_id(region6, birth_yyyymmdd, seq3):
    first17 = "%s%s%s" % (region6, birth_yyyymmdd, seq3)
    assert len(first17) == 17
    return first17 + check_char(first17)


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def make_uscc(first17):
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_CHARS[(31 - s % 31) % 31]
