# SPDX-License-Identifier: MIT
"""Installing the package offline: ``pip install ./bindings/python`` (and ``-e``, and the sdist)
into a fresh venv with no index, no find-links and no pip configuration, through the in-tree
build backend ``_build/zrca_build.py`` (standard library only, so there is nothing to fetch);
the wheel and sdist the backend's hooks build (RECORD hashes, contents, reproducible bytes);
the installed package loads the library the other tests use and reports one version
everywhere (pyproject.toml, ``zrca.__version__``, the installed metadata)."""
from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import importlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from typing import Any, Dict, List, Optional

import pytest

import zrca
from zrca import _lib

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
REPO = os.path.dirname(os.path.dirname(PKG))
BACKEND_DIR = os.path.join(PKG, "_build")

# Run in the venv from a directory outside the checkout, without PYTHONPATH: prints what was
# imported from where.
PROBE = r"""
import importlib.metadata as md, json, os, sys, sysconfig
import zrca
here = os.path.dirname(zrca.__file__)
print(json.dumps({
    "file": zrca.__file__, "version": zrca.__version__, "dist_version": md.version("zrca"),
    "library": zrca.LIBRARY_PATH, "library_version": zrca.library_version_string(),
    "py_typed": os.path.isfile(os.path.join(here, "py.typed")),
    "record": [str(f) for f in (md.files("zrca") or [])],
    "purelib": sysconfig.get_paths()["purelib"], "prefix": sys.prefix, "path": sys.path,
}))
"""


def _pyproject() -> Dict[str, Any]:
    path = os.path.join(PKG, "pyproject.toml")
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the backend's own reader
        return _backend()._read_pyproject(PKG)
    with open(path, "rb") as f:
        return tomllib.load(f)


def _backend() -> Any:
    if BACKEND_DIR not in sys.path:
        sys.path.insert(0, BACKEND_DIR)
    return importlib.import_module("zrca_build")


def _offline_env(**extra: str) -> Dict[str, str]:
    """The environment of an offline machine: no PIP_* variable (this one sets PIP_FIND_LINKS),
    no pip configuration file, every proxy a closed port (a download attempt fails at once),
    no PYTHONPATH, no ZRCA_* variable but those given."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NO_PROXY", "no_proxy")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "ZRCA_")) and k not in drop}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip reads no pip.conf at all
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env[k] = "http://127.0.0.1:9"
    env.update(extra)
    return env


def _run(cmd: List[str], cwd: str, env: Optional[Dict[str, str]] = None,
         timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env if env is not None else _offline_env(),
                          capture_output=True, text=True, timeout=timeout)


class Venv:
    def __init__(self, path: str) -> None:
        self.path = path
        self.python = os.path.join(path, "bin", "python")
        self.pip_exe = os.path.join(path, "bin", "pip")

    def pip(self, *args: str, cwd: str = REPO) -> subprocess.CompletedProcess:
        cmd = [self.pip_exe, args[0], "--disable-pip-version-check", "--no-cache-dir"]
        if args[0] == "install":
            cmd.append("--no-index")
        r = _run(cmd + list(args[1:]), cwd)
        assert r.returncode == 0, "pip %s failed:\n%s\n%s" % (" ".join(args), r.stdout, r.stderr)
        return r

    def install(self, *args: str) -> None:
        self.pip("uninstall", "-y", "zrca")  # a no-op when absent: each test starts clean
        self.pip("install", *args)

    def probe(self, cwd: str) -> Dict[str, Any]:
        r = _run([self.python, "-c", PROBE], cwd, _offline_env(ZRCA_LIBRARY=zrca.LIBRARY_PATH))
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """One venv (with pip, from ensurepip) for the module; each test uninstalls zrca first."""
    if importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None:
        pytest.skip("venv/ensurepip unavailable (Debian: apt-get install python3-venv)")
    path = str(tmp_path_factory.mktemp("install") / "venv")
    r = _run([sys.executable, "-m", "venv", path], REPO)
    if r.returncode != 0 and "ensurepip" in (r.stdout + r.stderr):
        pytest.skip("venv cannot install pip (ensurepip unavailable): " + r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    return Venv(path)


def _source_files() -> List[str]:
    out = []
    for d, dirs, files in os.walk(PKG):
        dirs[:] = [x for x in dirs if x != "__pycache__" and not x.startswith(".")]
        out += [os.path.relpath(os.path.join(d, f), PKG) for f in files if not f.endswith(".pyc")]
    return sorted(out)


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def _check_loaded(info: Dict[str, Any]) -> None:
    version = _pyproject()["project"]["version"]
    assert info["dist_version"] == version
    assert info["version"] == version
    assert os.path.samefile(info["library"], zrca.LIBRARY_PATH)
    assert info["library_version"] == zrca.library_version_string()


# ---------------------------------------------------------------------------------- versions

def test_one_version_everywhere():
    """pyproject.toml's version is the package's __version__, and fits the library major the
    runtime check demands (bindings 1.x for libzrca 1.x)."""
    version = _pyproject()["project"]["version"]
    assert zrca.__version__ == version
    major, minor = (int(x) for x in version.split(".")[:2])
    assert major == _lib.REQUIRED_VERSION[0] and (major, minor) >= _lib.REQUIRED_VERSION


def test_backend_toml_fallback_matches_tomllib():
    """The backend's reader for Pythons without tomllib reads pyproject.toml (and the other
    TOML it claims to support) as tomllib does."""
    tomllib = pytest.importorskip("tomllib")
    b = _backend()
    with open(os.path.join(PKG, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    assert b._mini_toml(text) == tomllib.loads(text)
    sample = ('# c\na = "x\\"y\\u00e9 # not a comment" # comment\n'
              '[t.u]\nb = [\n  1, -2, # c\n  \'lit\\\\\',\n]\n'
              'c = {d = "e", "f g" = true}\nh.i = false\n[t]\nj = []\n')
    assert b._mini_toml(sample) == tomllib.loads(sample)
    for bad in ('a = """x"""\n', "[[a]]\n", "a = 1.5\n", "a = 1\na = 2\n", "a = 1 b\n"):
        with pytest.raises(ValueError):
            b._mini_toml(bad)


# ---------------------------------------------------------------------------------- pip install

def test_pip_install_offline(venv: Venv, tmp_path: Any):
    """``pip install --no-index ./bindings/python`` with no PIP_* variable: nothing to fetch; the
    venv's copy is the one imported, loads the library, and has py.typed."""
    before = _source_files()
    venv.install("./bindings/python")
    assert _source_files() == before  # the build leaves nothing in the checkout

    info = venv.probe(str(tmp_path))
    _check_loaded(info)
    assert _inside(info["purelib"], venv.path)
    assert _inside(info["file"], info["purelib"]), info["file"]
    assert not any(_inside(p, PKG) for p in info["path"] if p and os.path.exists(p))
    assert info["py_typed"]
    assert "zrca/py.typed" in info["record"]


def test_backend_hooks_and_sdist_install(venv: Venv, tmp_path: Any):
    """The hooks called directly: no build requirements; a py3-none-any wheel whose RECORD
    verifies, with the package and its metadata and no bytecode; an sdist with what a build
    needs; both byte-identical when built again; the sdist installs offline."""
    b = _backend()
    project = _pyproject()["project"]
    dist = "zrca-" + project["version"]
    assert b.get_requires_for_build_wheel() == []
    assert b.get_requires_for_build_sdist() == []
    assert b.get_requires_for_build_editable() == []

    meta_dir = str(tmp_path / "meta")
    os.makedirs(meta_dir)
    assert b.prepare_metadata_for_build_wheel(meta_dir) == dist + ".dist-info"

    out = str(tmp_path / "dist")
    wheel = b.build_wheel(out, {}, os.path.join(meta_dir, dist + ".dist-info"))
    sdist = b.build_sdist(out, {})
    assert wheel == dist + "-py3-none-any.whl" and sdist == dist + ".tar.gz"

    with zipfile.ZipFile(os.path.join(out, wheel)) as z:
        names = z.namelist()
        contents = {n: z.read(n) for n in names}
    assert len(names) == len(set(names))
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    source = sorted("zrca/" + f for f in os.listdir(os.path.join(PKG, "zrca"))
                    if os.path.isfile(os.path.join(PKG, "zrca", f)) and not f.endswith(".pyc"))
    assert sorted(n for n in names if n.startswith("zrca/")) == source
    assert "zrca/py.typed" in names
    di = dist + ".dist-info/"
    assert {n for n in names if not n.startswith("zrca/")} == {
        di + "METADATA", di + "WHEEL", di + "RECORD", di + "top_level.txt"}

    # RECORD: every file once, with its urlsafe-base64 sha256 (no padding) and size; its own
    # line without either.
    rows = list(csv.reader(io.StringIO(contents[di + "RECORD"].decode("utf-8"))))
    assert sorted(r[0] for r in rows) == sorted(names)
    for path, digest, size in rows:
        if path == di + "RECORD":
            assert digest == "" and size == ""
            continue
        data = contents[path]
        expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == "sha256=" + expect, path
        assert int(size) == len(data), path

    wheel_meta = email.parser.Parser().parsestr(contents[di + "WHEEL"].decode())
    assert wheel_meta["Wheel-Version"] == "1.0"
    assert wheel_meta["Root-Is-Purelib"] == "true"
    assert wheel_meta.get_all("Tag") == ["py3-none-any"]
    assert wheel_meta["Generator"]

    meta = email.parser.Parser().parsestr(contents[di + "METADATA"].decode("utf-8"))
    assert meta["Metadata-Version"] == "2.1"
    assert meta["Name"] == project["name"] and meta["Version"] == project["version"]
    assert meta["Summary"] == project["description"]
    assert meta["Requires-Python"] == project["requires-python"]
    assert meta.get_all("Classifier") == project["classifiers"]
    assert meta["Description-Content-Type"] == "text/markdown"
    with open(os.path.join(PKG, project["readme"]), encoding="utf-8") as f:
        assert meta.get_payload() == f.read()
    with open(os.path.join(meta_dir, di + "METADATA"), "rb") as f:
        assert f.read() == contents[di + "METADATA"]  # prepare_metadata's is the wheel's

    with tarfile.open(os.path.join(out, sdist)) as t:
        members = t.getnames()
        pkg_info = t.extractfile(dist + "/PKG-INFO").read()  # type: ignore[union-attr]
    assert all(m == dist or m.startswith(dist + "/") for m in members)
    for need in ("PKG-INFO", "pyproject.toml", "README.md", "_build/zrca_build.py", "zrca/__init__.py",
                 "zrca/py.typed"):
        assert dist + "/" + need in members, need
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc") or "/tests" in m]
    assert pkg_info == contents[di + "METADATA"]

    again = str(tmp_path / "again")
    b.build_wheel(again)
    b.build_sdist(again)
    for name in (wheel, sdist):
        with open(os.path.join(out, name), "rb") as f1, open(os.path.join(again, name), "rb") as f2:
            assert f1.read() == f2.read(), name + " differs between two builds"

    venv.install(os.path.join(out, sdist))
    info = venv.probe(str(tmp_path))
    _check_loaded(info)
    assert _inside(info["file"], info["purelib"]), info["file"]
    assert info["py_typed"]


def test_editable_install(venv: Venv, tmp_path: Any):
    """``pip install --no-index -e ./bindings/python``: the venv imports the checkout's package."""
    venv.install("-e", "./bindings/python")
    info = venv.probe(str(tmp_path))
    _check_loaded(info)
    assert os.path.samefile(info["file"], os.path.join(PKG, "zrca", "__init__.py"))
    venv.pip("uninstall", "-y", "zrca")
