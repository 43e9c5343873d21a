# SPDX-License-Identifier: MIT
"""zrca.load_config reads the tool's configuration files as the tool does (man zrca,
CONFIGURATION): the same keys as the tool's long options, [COMMAND] sections, precedence
environment > user > system, errors naming the file, the line and the key."""
from __future__ import annotations

import os
import re

import pytest

import zrca
from zrca import config

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN_C = os.path.join(HERE, "..", "..", "..", "examples", "zrca", "main.c")


def test_keys_are_the_tools_options():
    if not os.path.exists(MAIN_C):
        pytest.skip("not in the source tree")
    src = open(MAIN_C, encoding="utf-8").read()
    opts = dict(re.findall(r'\{"([a-z-]+)", (no_argument|required_argument|optional_argument)', src))
    assert set(opts) == set(config.VALUE_KEYS) | set(config.FLAG_KEYS) | set(config.REFUSED_KEYS)
    assert {k for k, v in opts.items() if v == "no_argument"} - set(config.REFUSED_KEYS) == set(config.FLAG_KEYS)


def test_sections_are_the_tools_commands():
    if not os.path.exists(MAIN_C):
        pytest.skip("not in the source tree")
    src = open(MAIN_C, encoding="utf-8").read()
    assert set(re.findall(r'^    \{"([a-z-]+)", cmd_', src, flags=re.M)) == set(config.COMMANDS)


def test_files_sections_and_precedence(tmp_path):
    system, user = tmp_path / "zrca.conf", tmp_path / "config"
    system.write_text("# fleet\nurl = https://platform.example\naccount = a1\nwindow-days = 60\n"
                      "[renew]\nletter = '/etc/zrca/承诺函.pdf'\nscan = 赵国栋=/s/1.jpg\ninclude-absent = yes\n"
                      "[certs]\nkind = org\n", encoding="utf-8")
    user.write_text("account = a2\n[renew]\nscan = 18001=/s/2.jpg\ninclude-absent = no\n", encoding="utf-8")
    env = {"ZRCA_URL": "https://other.example"}
    c = zrca.load_config("renew", paths=[str(system), str(user)], environ=env)
    assert c == {"url": "https://other.example", "account": "a2", "window-days": "60",
                 "letter": "/etc/zrca/承诺函.pdf", "scan": ["赵国栋=/s/1.jpg", "18001=/s/2.jpg"]}
    assert zrca.load_config("certs", paths=[str(system)], environ={})["kind"] == "org"
    assert "kind" not in zrca.load_config("renew", paths=[str(system)], environ={})
    # A secret in the environment wins over the file key and is not copied.
    c = zrca.load_config("renew", paths=[str(system)], environ={"ZRCA_PIN": "246810"})
    assert "pin-file" not in c and "246810" not in repr(c)
    # Which files: ZRCA_CONFIG, else the system's then the user's.
    assert config.config_paths({"ZRCA_CONFIG": "/x.conf"}) == ["/x.conf"]
    assert config.config_paths({"ZRCA_CONFIG": ""}) == []
    assert config.config_paths({"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}) == ["/etc/zrca/zrca.conf",
                                                                              "/xdg/zrca/config"]
    assert config.config_paths({"HOME": "/h"}) == ["/etc/zrca/zrca.conf", "/h/.config/zrca/config"]
    assert zrca.load_config("renew", environ={"ZRCA_CONFIG": str(user)}) == {
        "account": "a2", "scan": ["18001=/s/2.jpg"]}


@pytest.mark.parametrize("text, line, key, words", [
    ("# x\n\nwindw-days = 3\n", 3, "windw-days", "unknown key"),
    ("[renew]\nwindow-days = many\n", 2, "window-days", "a number"),
    ("json = yes\n", 1, "json", "command line only"),
    ("quiet = maybe\n", 1, "quiet", "yes or no"),
    ("[renw]\n", 1, None, "not a section"),
    ("url\n", 1, None, "not 'key = value'"),
])
def test_errors_name_file_line_key(tmp_path, text, line, key, words):
    p = tmp_path / "zrca.conf"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(zrca.ConfigError) as ei:
        zrca.load_config("renew", paths=[str(p)], environ={})
    e = ei.value
    assert (e.path, e.line, e.key) == (str(p), line, key) and words in str(e)
    assert str(e).startswith("%s:%d: " % (p, line)) and isinstance(e, ValueError)
    with pytest.raises(zrca.ConfigError, match="no such file"):
        zrca.load_config(paths=[str(tmp_path / "none.conf")], environ={})
