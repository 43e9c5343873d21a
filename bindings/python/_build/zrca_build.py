# SPDX-License-Identifier: MIT
"""The in-tree PEP 517 / PEP 660 build backend of the ``zrca`` package, on the standard library
alone: ``pip install ./bindings/python`` needs nothing from an index, not even setuptools.

pyproject.toml names it (``build-backend = "zrca_build"``, ``backend-path = ["_build"]``), and
its ``[project]`` table (PEP 621) is the one source of the name, version, summary, Python
requirement, readme, classifiers and dependencies. What it builds:

- a wheel ``zrca-<version>-py3-none-any.whl``: the ``zrca`` package (``*.py``, ``py.typed``) and
  ``zrca-<version>.dist-info/`` (METADATA, WHEEL, top_level.txt, RECORD);
- an sdist ``zrca-<version>.tar.gz``: PKG-INFO, pyproject.toml, README.md, ``_build/`` and
  ``zrca/`` (not the tests: they need the libzrca source tree);
- an editable wheel (PEP 660): the dist-info and ``__editable__.zrca-<version>.pth``, which puts
  this directory on ``sys.path`` so ``import zrca`` reads the source tree.

``__pycache__`` and ``*.pyc`` are never packed. Archives are reproducible: members in sorted
order, every timestamp ``$SOURCE_DATE_EPOCH`` (1980-01-01 when unset), no owner names, modes
0644 (0755 for directories in the sdist). ``config_settings`` are accepted and ignored.
"""
from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import os
import re
import sys
import tarfile
import time
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

#: The directory holding pyproject.toml (pip runs the hooks there; the path does not depend on
#: the working directory, so the hooks can also be called from elsewhere).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "zrca"
GENERATOR = "zrca_build (in-tree)"
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the oldest time a zip entry can hold


# --------------------------------------------------------------------------- pyproject.toml

def _read_pyproject(root: str = ROOT) -> Dict[str, Any]:
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        data = f.read()
    try:
        import tomllib  # Python >= 3.11
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return _mini_toml(data.decode("utf-8"))
    return tomllib.loads(data.decode("utf-8"))


class _TomlError(ValueError):
    pass


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _mini_toml(text: str) -> Dict[str, Any]:
    """The subset of TOML this pyproject.toml uses, for Pythons without tomllib (< 3.11):
    ``[table]`` and ``[dotted.table]`` headers, ``key = value`` (bare, quoted or dotted keys)
    with basic or literal one-line strings, integers, booleans, arrays (over several lines too)
    and inline tables; comments. Anything else raises ``ValueError``."""
    doc: Dict[str, Any] = {}
    cur = doc
    pos, n = 0, len(text)

    def skip_ws(p: int, newlines: bool) -> int:
        while p < n:
            c = text[p]
            if c in " \t" or (newlines and c in "\r\n"):
                p += 1
            elif c == "#":
                while p < n and text[p] != "\n":
                    p += 1
            else:
                break
        return p

    def parse_string(p: int) -> Tuple[str, int]:
        q = text[p]
        if text.startswith(q * 3, p):
            raise _TomlError("multi-line strings are not supported")
        p += 1
        out = []
        while True:
            if p >= n or text[p] == "\n":
                raise _TomlError("unterminated string")
            c = text[p]
            if c == q:
                return "".join(out), p + 1
            if c == "\\" and q == '"':
                e = text[p + 1:p + 2]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                    p += 2
                elif e in ("u", "U"):
                    width = 4 if e == "u" else 8
                    out.append(chr(int(text[p + 2:p + 2 + width], 16)))
                    p += 2 + width
                else:
                    raise _TomlError("bad escape \\%s" % e)
            else:
                out.append(c)
                p += 1

    def parse_key(p: int) -> Tuple[List[str], int]:
        parts = []
        while True:
            p = skip_ws(p, False)
            if p < n and text[p] in "\"'":
                k, p = parse_string(p)
            else:
                m = _BARE.match(text, p)
                if not m:
                    raise _TomlError("bad key at offset %d" % p)
                k, p = m.group(0), m.end()
            parts.append(k)
            p = skip_ws(p, False)
            if p < n and text[p] == ".":
                p += 1
                continue
            return parts, p

    def parse_value(p: int) -> Tuple[Any, int]:
        c = text[p:p + 1]
        if c in ("\"", "'"):
            return parse_string(p)
        if c == "[":
            arr: List[Any] = []
            p = skip_ws(p + 1, True)
            while text[p:p + 1] != "]":
                v, p = parse_value(p)
                arr.append(v)
                p = skip_ws(p, True)
                if text[p:p + 1] == ",":
                    p = skip_ws(p + 1, True)
                elif text[p:p + 1] != "]":
                    raise _TomlError("bad array at offset %d" % p)
            return arr, p + 1
        if c == "{":
            tbl: Dict[str, Any] = {}
            p = skip_ws(p + 1, False)
            while text[p:p + 1] != "}":
                keys, p = parse_key(p)
                if text[p:p + 1] != "=":
                    raise _TomlError("expected = at offset %d" % p)
                v, p = parse_value(skip_ws(p + 1, False))
                put(tbl, keys, v)
                p = skip_ws(p, False)
                if text[p:p + 1] == ",":
                    p = skip_ws(p + 1, False)
                elif text[p:p + 1] != "}":
                    raise _TomlError("bad inline table at offset %d" % p)
            return tbl, p + 1
        m = re.compile(r"true|false|[+-]?[0-9][0-9_]*(?![.eE0-9])").match(text, p)
        if not m:
            raise _TomlError("unsupported value at offset %d" % p)
        word = m.group(0)
        if word in ("true", "false"):
            return word == "true", m.end()
        return int(word.replace("_", "")), m.end()

    def table(keys: List[str]) -> Dict[str, Any]:
        t = doc
        for k in keys:
            t = t.setdefault(k, {})
            if not isinstance(t, dict):
                raise _TomlError("%s is not a table" % ".".join(keys))
        return t

    def put(t: Dict[str, Any], keys: List[str], v: Any) -> None:
        for k in keys[:-1]:
            t = t.setdefault(k, {})
        if keys[-1] in t:
            raise _TomlError("duplicate key %s" % ".".join(keys))
        t[keys[-1]] = v

    while True:
        pos = skip_ws(pos, True)
        if pos >= n:
            return doc
        if text[pos] == "[":
            if text.startswith("[[", pos):
                raise _TomlError("arrays of tables are not supported")
            keys, pos = parse_key(pos + 1)
            if text[pos:pos + 1] != "]":
                raise _TomlError("bad table header at offset %d" % pos)
            cur = table(keys)
            pos += 1
        else:
            keys, pos = parse_key(pos)
            if text[pos:pos + 1] != "=":
                raise _TomlError("expected = at offset %d" % pos)
            value, pos = parse_value(skip_ws(pos + 1, False))
            put(cur, keys, value)
        pos = skip_ws(pos, False)
        if pos < n and text[pos] not in "\r\n":
            raise _TomlError("junk after a value at offset %d" % pos)


# --------------------------------------------------------------------------- metadata

def _normalize(name: str) -> str:
    """A distribution name as wheel and sdist file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


class _Project:
    def __init__(self, root: str = ROOT) -> None:
        self.root = root
        project = _read_pyproject(root)["project"]
        if project.get("dynamic"):
            raise ValueError("zrca_build does not support dynamic metadata: %r" % project["dynamic"])
        self.project = project
        self.name: str = project["name"]
        self.version: str = project["version"]
        self.dist = "%s-%s" % (_normalize(self.name), self.version)
        self.dist_info = self.dist + ".dist-info"

    def readme(self) -> Tuple[Optional[str], Optional[str], Optional[str]]:
        """(text, content type, file name) of the readme."""
        r = self.project.get("readme")
        if r is None:
            return None, None, None
        if isinstance(r, str):
            r = {"file": r}
        ctype = r.get("content-type")
        fname = r.get("file")
        if fname:
            with open(os.path.join(self.root, fname), encoding=r.get("charset", "utf-8")) as f:
                text = f.read()
            if not ctype:
                ext = os.path.splitext(fname)[1].lower()
                ctype = {".md": "text/markdown", ".rst": "text/x-rst"}.get(ext, "text/plain")
        else:
            text = r["text"]
        return text, ctype, fname

    def metadata(self) -> bytes:
        """METADATA (and the sdist's PKG-INFO), Metadata-Version 2.1."""
        p = self.project
        h: List[Tuple[str, str]] = [("Metadata-Version", "2.1"), ("Name", self.name),
                                    ("Version", self.version)]
        if p.get("description"):
            h.append(("Summary", p["description"]))
        for label, url in (p.get("urls") or {}).items():
            h.append(("Project-URL", "%s, %s" % (label, url)))
        lic = p.get("license")
        if isinstance(lic, dict) and lic.get("text"):
            h.append(("License", lic["text"]))
        for c in p.get("classifiers", []):
            h.append(("Classifier", c))
        if p.get("requires-python"):
            h.append(("Requires-Python", p["requires-python"]))
        for d in p.get("dependencies", []):
            h.append(("Requires-Dist", d))
        for extra, deps in sorted((p.get("optional-dependencies") or {}).items()):
            h.append(("Provides-Extra", extra))
            for d in deps:
                req, _, marker = d.partition(";")
                marker = marker.strip()
                cond = 'extra == "%s"' % extra
                h.append(("Requires-Dist", "%s; %s" % (req.strip(), "(%s) and %s" % (marker, cond)
                                                       if marker else cond)))
        text, ctype, _ = self.readme()
        if text is not None:
            h.append(("Description-Content-Type", ctype or "text/plain"))
        for k, v in h:
            if "\n" in v or "\r" in v:
                raise ValueError("a metadata field holds a line break: %s" % k)
        head = "".join("%s: %s\n" % kv for kv in h)
        return (head if text is None else head + "\n" + text).encode("utf-8")

    def wheel_file(self) -> bytes:
        return ("Wheel-Version: 1.0\nGenerator: %s\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                % GENERATOR).encode("ascii")

    def dist_info_files(self) -> List[Tuple[str, bytes]]:
        """The dist-info's files but RECORD, as (archive name, content)."""
        d = self.dist_info
        return [(d + "/METADATA", self.metadata()),
                (d + "/WHEEL", self.wheel_file()),
                (d + "/top_level.txt", (PACKAGE + "\n").encode("ascii"))]

    def wheel_name(self) -> str:
        return self.dist + "-py3-none-any.whl"

    def package_files(self) -> List[Tuple[str, str]]:
        """(archive name, path) of every file of the package, sorted."""
        return list(_walk(self.root, PACKAGE))

    def sdist_files(self) -> List[Tuple[str, str]]:
        out = [("pyproject.toml", os.path.join(self.root, "pyproject.toml"))]
        _, _, readme = self.readme()
        if readme:
            out.append((readme.replace(os.sep, "/"), os.path.join(self.root, readme)))
        out += _walk(self.root, "_build")
        out += _walk(self.root, PACKAGE)
        return sorted(set(out))


def _walk(root: str, top: str) -> Iterator[Tuple[str, str]]:
    found = []
    for d, dirs, files in os.walk(os.path.join(root, top)):
        dirs[:] = sorted(x for x in dirs if x not in _SKIP_DIRS)
        for f in files:
            if f.endswith(_SKIP_SUFFIXES):
                continue
            path = os.path.join(d, f)
            found.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return iter(sorted(found))


def _epoch() -> int:
    try:
        return max(int(os.environ["SOURCE_DATE_EPOCH"]), _DEFAULT_EPOCH)
    except (KeyError, ValueError):
        return _DEFAULT_EPOCH


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _write_wheel(proj: _Project, wheel_directory: str, files: List[Tuple[str, bytes]]) -> str:
    """Write the wheel of ``files`` (archive name, content) plus the dist-info; returns its
    file name."""
    files = files + proj.dist_info_files()
    record_name = proj.dist_info + "/RECORD"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for name, data in files:
        w.writerow((name, _record_hash(data), len(data)))
    w.writerow((record_name, "", ""))
    files.append((record_name, buf.getvalue().encode("utf-8")))

    date_time = time.gmtime(_epoch())[:6]
    name = proj.wheel_name()
    os.makedirs(wheel_directory, exist_ok=True)
    tmp = os.path.join(wheel_directory, "." + name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time)
            info.external_attr = (0o100644 << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode above is read
            z.writestr(info, data)
    os.replace(tmp, os.path.join(wheel_directory, name))
    return name


# --------------------------------------------------------------------------- PEP 517 hooks

def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Optional[Dict[str, Any]] = None) -> str:
    proj = _Project()
    d = os.path.join(metadata_directory, proj.dist_info)
    os.makedirs(d, exist_ok=True)
    for arcname, data in proj.dist_info_files():
        with open(os.path.join(metadata_directory, arcname), "wb") as f:
            f.write(data)
    return proj.dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    # The metadata is computed again, identical to what prepare_metadata_for_build_wheel wrote.
    proj = _Project()
    return _write_wheel(proj, wheel_directory, [(a, _read(p)) for a, p in proj.package_files()])


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                   metadata_directory: Optional[str] = None) -> str:
    proj = _Project()
    pth = ("__editable__.%s.pth" % proj.dist, (os.path.abspath(proj.root) + "\n").encode("utf-8"))
    return _write_wheel(proj, wheel_directory, [pth])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    proj = _Project()
    mtime = _epoch()
    name = proj.dist + ".tar.gz"
    os.makedirs(sdist_directory, exist_ok=True)
    tmp = os.path.join(sdist_directory, "." + name + ".tmp")

    def info(arcname: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(proj.dist + ("/" + arcname if arcname else ""))
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = mtime, 0, 0, "", ""
        if directory:
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        else:
            ti.size, ti.mode = size, 0o644
        return ti

    members: List[Tuple[str, bytes]] = [("PKG-INFO", proj.metadata())]
    members += [(a, _read(p)) for a, p in proj.sdist_files()]
    members.sort()
    with open(tmp, "wb") as raw:
        # The gzip header carries a time and a file name too: both fixed.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(info("", directory=True))
                dirs_done = set()
                for arcname, data in members:
                    parts = arcname.split("/")[:-1]
                    for i in range(1, len(parts) + 1):
                        d = "/".join(parts[:i])
                        if d not in dirs_done:
                            dirs_done.add(d)
                            tar.addfile(info(d, directory=True))
                    tar.addfile(info(arcname, len(data)), io.BytesIO(data))
    os.replace(tmp, os.path.join(sdist_directory, name))
    return name


if __name__ == "__main__":  # python3 _build/zrca_build.py [sdist|wheel|editable] [outdir]
    what = sys.argv[1] if len(sys.argv) > 1 else "wheel"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "dist")
    hook = {"sdist": build_sdist, "wheel": build_wheel, "editable": build_editable}[what]
    print(os.path.join(out, hook(out)))
