# SPDX-License-Identifier: MIT
"""The configuration files of the zrca tool, for programs on the bindings (man zrca,
CONFIGURATION): ``/etc/zrca/zrca.conf``, then ``$XDG_CONFIG_HOME/zrca/config``, or only the file
ZRCA_CONFIG names. The C library reads no file (as libcurl); this module reads them the way the
tool does, so that a fleet keeps one configuration for both.

``load_config(command)`` returns the settings a command would use: keys are the tool's long
options without dashes (``url``, ``window-days``, ``letter``, ``deploy-hook``, ...), values
strings, ``True`` for options without a value, lists for those that add up (``scan``,
``person``). Precedence, highest first: the environment (ZRCA_URL, ... for the keys that have a
variable), the user's file, the system's file. A bad file raises ConfigError naming the file,
the line and the key.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence, Union

#: Every key (the tool's long options): value-taking ones.
VALUE_KEYS = (
    "url", "ca-file", "issuer-ca-file", "pinned-key", "account", "password-file", "state-dir", "token-uri",
    "token-label", "token-serial", "module", "soft-dir", "pin-file", "so-pin-file", "new-pin-file", "timeout",
    "interval", "kind", "status", "business", "from", "to", "number", "legal-rep", "legal-rep-scan", "person",
    "id-scan", "letter", "contact", "mobile", "email", "years", "remark", "reason", "comment", "key", "serial",
    "window-days", "scan", "scan-dir", "key-label", "key-id", "subject", "out", "lock-wait", "deploy-hook",
    "notify-hook", "skf-library")
#: Keys without a value (yes / no).
FLAG_KEYS = ("watch", "wait", "org", "single-login", "delete-old", "auto", "no-wait", "include-absent", "pem",
             "quiet", "login-key")
#: Keys for the command line only.
REFUSED_KEYS = ("json", "verbose", "help", "version", "dry-run", "abort", "force", "cancel", "resubmit", "pay",
                "rate", "receive", "sign")
#: Keys that add up over the files.
LIST_KEYS = ("scan", "person", "id-scan")
#: The environment variables that win over the files, per key.
ENV = {"url": ("ZRCA_URL",), "ca-file": ("ZRCA_CA_FILE",), "issuer-ca-file": ("ZRCA_ISSUER_CA_FILE",),
       "pinned-key": ("ZRCA_PINNED_KEY",), "account": ("ZRCA_ACCOUNT",),
       "password-file": ("ZRCA_PASSWORD_FILE", "ZRCA_PASSWORD"), "state-dir": ("ZRCA_STATE_DIR",),
       "token-uri": ("ZRCA_TOKEN_URI",), "token-label": ("ZRCA_TOKEN_LABEL",),
       "token-serial": ("ZRCA_TOKEN_SERIAL",), "module": ("ZRCA_MODULE",), "soft-dir": ("ZRCA_SOFT_DIR",),
       "pin-file": ("ZRCA_PIN_FILE", "ZRCA_PIN"), "so-pin-file": ("ZRCA_SO_PIN_FILE", "ZRCA_SO_PIN"),
       "new-pin-file": ("ZRCA_NEW_PIN_FILE", "ZRCA_NEW_PIN"), "skf-library": ("ZRCA_SKF_LIBRARY",)}
#: The tool's commands (section names).
COMMANDS = ("login", "certs", "persons", "notifications", "apply", "new", "orders", "order", "receipt", "update",
            "seal", "renew", "revoke", "revocations", "crl-check", "token", "version", "help")

Value = Union[str, bool, List[str]]


class ConfigError(ValueError):
    """A configuration file broke a rule: ``path``, ``line`` (1-based) and ``key`` (or None)."""

    def __init__(self, path: str, line: int, key: Optional[str], message: str) -> None:
        super().__init__("%s:%d: %s" % (path, line, message))
        self.path, self.line, self.key = path, line, key


def config_paths(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The files read, lowest precedence first."""
    env = os.environ if environ is None else environ
    one = env.get("ZRCA_CONFIG")
    if one is not None:
        return [one] if one else []
    xdg = env.get("XDG_CONFIG_HOME", "")
    home = env.get("HOME", "")
    user = (os.path.join(xdg, "zrca", "config") if xdg.startswith("/")
            else os.path.join(home, ".config", "zrca", "config") if home else None)
    return ["/etc/zrca/zrca.conf"] + ([user] if user else [])


def _read(path: str, command: Optional[str], out: Dict[str, Value], must_exist: bool) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(path, 0, None, "cannot read the configuration: no such file")
        return
    except OSError as e:
        raise ConfigError(path, 0, None, "cannot read the configuration: %s" % e.strerror)
    section = ""
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            name = s[1:-1] if s.endswith("]") else ""
            if not name or (name not in COMMANDS and name != "all"):
                raise ConfigError(path, n, None, "'%s' is not a section: [COMMAND] or [all]" % s)
            section = "" if name == "all" else name
            continue
        if "=" not in s:
            raise ConfigError(path, n, None, "'%s' is not 'key = value'" % s)
        key, value = (x.strip() for x in s.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in REFUSED_KEYS:
            raise ConfigError(path, n, key, "key '%s' is for the command line only" % key)
        if key not in VALUE_KEYS and key not in FLAG_KEYS:
            raise ConfigError(path, n, key, "unknown key '%s' (keys are the long options of zrca help "
                                            "COMMAND, without their dashes)" % key)
        if key in FLAG_KEYS:
            if value not in ("yes", "true", "1", "no", "false", "0"):
                raise ConfigError(path, n, key, "key '%s': yes or no, not '%s'" % (key, value))
            v: Value = value in ("yes", "true", "1")
        else:
            if not value and key != "legal-rep":
                raise ConfigError(path, n, key, "key '%s' has no value" % key)
            v = value
        if key in ("timeout", "interval", "years", "rate", "window-days", "lock-wait") and not value.isdigit():
            raise ConfigError(path, n, key, "key '%s': a number, not '%s'" % (key, value))
        if section and command is not None and section != command:
            continue
        if key in LIST_KEYS:
            lst = out.setdefault(key, [])
            assert isinstance(lst, list)
            lst.append(value)
        elif v is False:
            out.pop(key, None)
        else:
            out[key] = v


def load_config(command: Optional[str] = None, paths: Optional[Sequence[str]] = None,
                environ: Optional[Mapping[str, str]] = None) -> Dict[str, Value]:
    """The settings of ``command`` from ``paths`` (default: config_paths(); a missing file is
    skipped unless named by ``paths`` or ZRCA_CONFIG), the environment's variables winning over
    them (a secret's variable, ZRCA_PASSWORD or ZRCA_PIN, removes the file key and is not
    copied). ``command`` None reads the keys of every section. Raises ConfigError."""
    env = os.environ if environ is None else environ
    explicit = paths is not None or env.get("ZRCA_CONFIG")
    out: Dict[str, Value] = {}
    for p in (config_paths(env) if paths is None else list(paths)):
        _read(p, command, out, must_exist=bool(explicit))
    for key, names in ENV.items():
        if any(env.get(n) for n in names):
            out.pop(key, None)
            if env.get(names[0]):
                out[key] = env[names[0]]
    return out
