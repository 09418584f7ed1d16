"""The Debian package (`make deb`): built from the build tree, installed with
dpkg into a clean root of its own (never the real system), run from there,
checked against what ldd, dpkg -S and the CLI say, and removed again."""
import ast
import gzip
import json
import os
import pathlib
import re
import struct
import subprocess
import sys

import pytest

from conftest import BUILD, REPO
from test_man import render_checks

PAGE = 4096
DIST = "usr/lib/python3/dist-packages"


def sh(*cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)
    assert p.returncode == 0, (cmd, p.returncode, p.stdout, p.stderr)
    return p.stdout


def owners(paths):
    """{path: the Debian package that installed it on this host}, in one dpkg
    call (merged /usr aware: dpkg may know a file by its /lib name only)."""
    candidates = {p: {p, os.path.realpath(p)} for p in paths}
    query = sorted(set().union(*candidates.values()))
    p = subprocess.run(["dpkg", "-S"] + query, capture_output=True, text=True, timeout=60)
    by_path = {}
    for line in p.stdout.splitlines():
        package, _, path = line.partition(": ")
        by_path[path] = package.split(":")[0]
    found = {p: next((by_path[c] for c in sorted(cs) if c in by_path), None)
             for p, cs in candidates.items()}
    assert None not in found.values(), (found, p.stderr)
    return found


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    path = pathlib.Path(sh(REPO / "analyzer" / "deb" / "build-deb", BUILD, out).strip())
    assert path.parent == out and path.is_file()
    return path


@pytest.fixture(scope="module")
def fields(deb):
    text = sh("dpkg-deb", "-f", deb)
    return dict(re.findall(r"^(\S+): (.*)$", text, flags=re.M))


@pytest.fixture(scope="module")
def depends(fields):
    """Package names in Depends (alternatives and versions left out)."""
    return {re.split(r"[ (]", d.strip())[0] for d in re.split(r"[,|]", fields["Depends"])}


@pytest.fixture(scope="module")
def root(deb, tmp_path_factory):
    """A clean root holding only what `dpkg --root -i` put there; purged at the end."""
    if os.geteuid() != 0:
        pytest.skip("dpkg --root installs files owned by root: run as root")
    r = tmp_path_factory.mktemp("root")
    admin = r / "var" / "lib" / "dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    (admin / "status").touch()
    (admin / "available").touch()
    (r / "var" / "log").mkdir()
    # The root has no packages at all, so the dependencies (checked against
    # this host below) cannot be satisfied inside it.
    sh("dpkg", f"--root={r}", "--force-depends", "--force-script-chrootless", "-i", deb)
    yield r
    sh("dpkg", f"--root={r}", "--force-depends", "--force-script-chrootless", "--purge", "zdedup")
    left = [p for p in r.rglob("*") if p.is_file() and "var" not in p.relative_to(r).parts[:1]]
    assert left == [], left
    status = (admin / "status").read_text()
    assert not re.search(r"^Package: zdedup$", status, re.M), status


def cmake_version():
    return re.search(r"project\(zdedup VERSION (\S+)", (REPO / "CMakeLists.txt").read_text()).group(1)


def test_control_fields(fields):
    assert fields["Package"] == "zdedup"
    assert fields["Version"] == cmake_version()
    assert fields["Architecture"] == "amd64"
    assert fields["Section"] == "admin" and "Maintainer" in fields


def test_contents(deb):
    listing = sh("dpkg-deb", "-c", deb).splitlines()
    files = {line.split()[-1] for line in listing if line.startswith("-")}
    ext = sh(sys.executable, "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))").strip()
    assert files == {
        "./usr/bin/zdedup",
        f"./{DIST}/zdedup/__init__.py",
        f"./{DIST}/zdedup/_zdedup{ext}",
        "./usr/share/man/man8/zdedup.8.gz",
        "./usr/share/doc/zdedup/copyright",
        "./usr/share/doc/zdedup/changelog.gz",
    }
    assert all(line.split()[1] == "root/root" for line in listing), listing


def test_elf_dependencies_are_declared(root, depends):
    """Every shared library the installed ELF files link (DT_NEEDED; what those
    load in turn is their packages' business) comes from a declared package."""
    elves = [root / "usr/bin/zdedup"] + list((root / DIST / "zdedup").glob("_zdedup*.so"))
    seen = set()
    for elf in elves:
        sections = sh("readelf", "-S", "-W", elf)
        assert ".symtab" not in sections and ".debug_info" not in sections, elf
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", sh("readelf", "-d", "-W", elf))
        loaded = dict(re.findall(r"^\s+(\S+) => (/\S+)", sh("ldd", elf), flags=re.M))
        assert needed and set(needed) <= set(loaded), (elf, needed, loaded)
        seen |= set(owners([loaded[lib] for lib in needed]).values())
    assert {"libc6", "libstdc++6", "libbpf1", "libzstd1"} <= seen, seen
    assert seen <= depends, seen - depends


def test_python_dependencies_are_declared(depends):
    """Every non-stdlib module the package imports comes from a declared package."""
    tree = ast.parse((REPO / "python" / "zdedup" / "__init__.py").read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.level == 0}
    third_party = modules - set(sys.stdlib_module_names)
    assert third_party, modules
    files = sh(sys.executable, "-c", f"import {', '.join(sorted(third_party))}; "
               f"print(*[m.__file__ for m in ({', '.join(sorted(third_party))},)], sep='\\n')").split()
    declared = owners(files)
    assert set(declared.values()) <= depends, declared
    assert "python3" in depends


def test_depends_are_met_here(fields):
    """The packages this host runs the installed files with satisfy Depends,
    versions included (the libraries the root's zdedup loads are the host's)."""
    p = subprocess.run(["dpkg-checkbuilddeps", "-d", fields["Depends"], "/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_installed_cli_runs(root, tmp_path):
    zdedup = root / "usr/bin/zdedup"
    assert sh(zdedup, "--version").strip() == f"zdedup {cmake_version()}"
    # 3 zero pages, content 1 five times, 2 twice, 3 and 4 once.
    ids = [0, 1, 1, 0, 2, 1, 3, 1, 0, 2, 4, 1]
    image = tmp_path / "image.raw"
    image.write_bytes(b"".join(bytes(PAGE) if i == 0 else struct.pack("<Q", i) * (PAGE // 8)
                               for i in ids))
    out = json.loads(sh(zdedup, "scan", "--json", "-q", image))
    assert (out["pages"], out["zero_pages"], out["distinct"], out["duplicate_pages"]) == (12, 3, 4, 5)
    assert out["dedup_ratio"] == pytest.approx(9 / 4)


def test_installed_man_page(root):
    page = root / "usr/share/man/man8/zdedup.8.gz"
    assert gzip.decompress(page.read_bytes()) == (BUILD / "man" / "zdedup.8").read_bytes()
    text = render_checks(page)
    assert f"zdedup {cmake_version()}" in text


def test_installed_python_module(root, tmp_path):
    (tmp_path / "one.raw").write_bytes(struct.pack("<Q", 7) * (PAGE // 8) * 3)
    code = ("import zdedup, json; r = zdedup.scan(files=['one.raw']); "
            "print(json.dumps([zdedup.__file__, zdedup._zdedup.__file__, r['pages'], r['distinct']]))")
    env = dict(os.environ, PYTHONPATH=str(root / DIST))
    where, ext, pages, distinct = json.loads(sh("/usr/bin/python3", "-c", code, cwd=tmp_path, env=env))
    assert where == str(root / DIST / "zdedup" / "__init__.py")
    assert pathlib.Path(ext).parent == root / DIST / "zdedup"
    assert (pages, distinct) == (3, 1)
