"""zdedup ghost create: the swap header it writes, read back field by field
with struct (the layout of union swap_header in include/linux/swap.h, not the
tool's own code), and its refusals: one line, exit 2 (5 for a full disk), no
file left behind.  swapon of the file is tested in the VM (tests/vm/dedup)."""
import json
import os
import struct
import subprocess
import uuid

import pytest

from conftest import run

PAGE = os.sysconf("SC_PAGESIZE")


def header(path):
    data = path.read_bytes()
    version, last_page, nr_badpages = struct.unpack_from("<III", data, 1024)
    return {"size": len(data), "version": version, "last_page": last_page, "nr_badpages": nr_badpages,
            "uuid": uuid.UUID(bytes=data[1036:1052]), "label": data[1052:1068].rstrip(b"\0").decode(),
            "magic": data[PAGE - 10:], "bootbits": data[:1024]}


@pytest.mark.parametrize("size,pages", [("8G", 8 << 18), ("512M", 512 << 8), ("65536K", 16384),
                                        ("8192", 2), (str(3 * PAGE + 100), 3), ("16T", 1 << 32)])
def test_header_declares_the_size(tmp_path, size, pages):
    f = tmp_path / "ghost"
    p = run("zdedup", "ghost", "create", f, "--size", size, "--json", check=0)
    h = header(f)
    assert h["size"] == PAGE and os.stat(f).st_mode & 0o777 == 0o600
    assert h["magic"] == b"SWAPSPACE2" and h["version"] == 1 and h["nr_badpages"] == 0
    assert h["bootbits"] == bytes(1024)
    # Pages of the area, header included: swapon uses slots 1..last_page.
    assert h["last_page"] == pages - 1
    assert h["uuid"].version == 4
    j = json.loads(p.stdout)
    assert j == {"path": str(f), "page_size": PAGE, "last_page": pages - 1,
                 "swap_bytes": (pages - 1) * PAGE, "uuid": str(h["uuid"]), "label": ""}


def test_text_line_and_label(tmp_path):
    f = tmp_path / "g"
    p = run("zdedup", "ghost", "create", f, "--size", "1G", "--label", "ghost-1", check=0)
    h = header(f)
    assert h["label"] == "ghost-1"
    assert p.stdout == (f"{f}: ghost swapfile, 1024 MiB of swap (262143 slots of 4096 B), "
                        f"UUID {h['uuid']}\n")
    # Two files, two UUIDs.
    run("zdedup", "ghost", "create", tmp_path / "h", "--size", "1G", check=0)
    assert header(tmp_path / "h")["uuid"] != h["uuid"]


def refused(p, status, words):
    assert p.returncode == status, (p.stdout, p.stderr)
    assert p.stdout == "" and p.stderr.count("\n") == 1 and p.stderr.startswith("zdedup: "), p.stderr
    assert words in p.stderr, p.stderr


@pytest.mark.parametrize("size,words", [
    ("4K", "2 pages to 4294967296 pages"), ("0", "2 pages to"), ("17T", "2 pages to"),
    ("1X", "not a size"), ("", "not a size"), ("-1G", "not a size"), ("1.5G", "not a size"),
    ("99999999999999999999", "too large"), ("18446744073709551615K", "too large")])
def test_bad_sizes(tmp_path, size, words):
    f = tmp_path / "g"
    refused(run("zdedup", "ghost", "create", f, "--size", size), 2, words)
    assert not f.exists()


def test_existing_files_symlinks_and_directories_are_never_written(tmp_path):
    f = tmp_path / "taken"
    f.write_bytes(b"keep me")
    refused(run("zdedup", "ghost", "create", f, "--size", "1G"), 2, "exists")
    assert f.read_bytes() == b"keep me"
    target = tmp_path / "target"
    target.write_bytes(b"target")
    (tmp_path / "link").symlink_to(target)
    refused(run("zdedup", "ghost", "create", tmp_path / "link", "--size", "1G"), 2, "exists")
    assert target.read_bytes() == b"target"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    refused(run("zdedup", "ghost", "create", tmp_path / "dangling", "--size", "1G"), 2, "exists")
    assert not (tmp_path / "nowhere").exists()
    refused(run("zdedup", "ghost", "create", tmp_path / "no" / "dir", "--size", "1G"), 2,
            "cannot create: No such file or directory")


def test_bad_label_and_missing_arguments(tmp_path):
    refused(run("zdedup", "ghost", "create", tmp_path / "g", "--size", "1G", "--label", "x" * 17), 2,
            "at most 16 bytes")
    refused(run("zdedup", "ghost", "create", tmp_path / "g"), 2, "--size")
    refused(run("zdedup", "ghost"), 2, "subcommand")
    assert not (tmp_path / "g").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a full tmpfs needs root")
def test_full_disk_exits_5_read_only_exits_2_and_nothing_is_left(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={PAGE}", "tmpfs", str(mnt)], check=True)
    try:
        (mnt / "fill").write_bytes(b"x" * PAGE)
        refused(run("zdedup", "ghost", "create", mnt / "g", "--size", "1G"), 5,
                "cannot write the swap header: No space left on device")
        assert sorted(os.listdir(mnt)) == ["fill"]
        # A directory that cannot be written (root writes any mode: read-only).
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        refused(run("zdedup", "ghost", "create", mnt / "g", "--size", "1G"), 2,
                "cannot create: Read-only file system")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir(mode=0o555)
    refused(run("zdedup", "ghost", "create", d / "g", "--size", "1G"), 2, "Permission denied")
