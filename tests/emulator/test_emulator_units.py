"""Fast checks of the emulator's pure parts: profiles, image cache rules, path confinement, protocol framing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgekit.emulator import adb_protocol as P
from edgekit.emulator import image
from edgekit.emulator.shell_service import parse_shell_service
from edgekit.emulator.profiles import load_profile, profile_for_serial
from edgekit.emulator.sync_service import PathEscape, resolve
from edgekit.errors import EdgekitError


def test_shipped_profiles():
    low, mid = load_profile("armv7-lowend"), load_profile("armv7-midrange")
    assert (low.qemu_cpu, low.memory_mb, low.prop("ro.product.cpu.abi")) == ("cortex-a7", 1024, "armeabi-v7a")
    assert (mid.qemu_cpu, mid.memory_mb) == ("cortex-a15", 2048)
    for p in (low, mid):
        for key in ("ro.product.cpu.abilist", "ro.build.version.sdk", "ro.build.version.release",
                    "ro.product.model", "ro.product.manufacturer", "ro.product.device"):
            assert p.prop(key), key
    assert load_profile(low.path).name == "armv7-lowend"


def test_profile_errors_and_real_phones(tmp_path, monkeypatch):
    with pytest.raises(EdgekitError, match="unknown device profile"):
        load_profile("no-such-phone")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "emulated"\n[emulator]\nqemu_cpu = "cortex-a9"\nmemory_mb = 512\ncores = 2\n')
    with pytest.raises(EdgekitError, match="cortex-a7, cortex-a15"):
        load_profile(bad)
    bad.write_text("this is = not toml [")
    with pytest.raises(EdgekitError, match="not valid TOML"):
        load_profile(bad)
    real = tmp_path / "phone.toml"
    real.write_text('kind = "real"\n')
    with pytest.raises(EdgekitError, match="serial"):
        load_profile(real)
    real.write_text('kind = "real"\nserial = "ZY123"\nnotes = "bench phone"\n')
    monkeypatch.setenv("EDGEKIT_DEVICES", str(tmp_path))
    real.rename(tmp_path / "moto.toml")
    bad.unlink()
    prof = profile_for_serial("ZY123")
    assert prof is not None and prof.name == "moto" and prof.notes == "bench phone"


def test_half_built_image_is_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    key = image.recipe_key()
    assert len(key) == 16 and key == image.recipe_key()
    (tmp_path / "images" / key / "rootfs" / "bin").mkdir(parents=True)  # no READY marker
    (tmp_path / "images" / f".tmp-{key}-123" / "rootfs" / "bin").mkdir(parents=True)
    assert not image.image_ready()
    with pytest.raises(EdgekitError) as exc:
        image.rootfs_path()
    assert "not built" in exc.value.one_line() and "edgekit emulator build" in exc.value.one_line()
    (tmp_path / "images" / key / "READY").write_text(key)
    assert image.rootfs_path() == tmp_path / "images" / key / "rootfs"
    monkeypatch.setitem(image.RECIPE, "include", ["python3", "python3-numpy", "procps"])
    assert image.recipe_key() != key


DEB822 = """Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
# URIs: http://commented.example.org/debian
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
"""


def test_debian_mirror_from_apt_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEKIT_DEBIAN_MIRROR", raising=False)
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    # nothing configured: the default mirror
    assert image.debian_mirror(apt) == "http://deb.debian.org/debian"
    # deb822: the base archive, not the security one listed first nor a commented line
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert image.debian_mirror(apt) == "http://mirror.example.org/debian/"
    # a disabled file is not read by apt, so it names no mirror (sorted first, it would win otherwise)
    (apt / "sources.list.d" / "a.list.disabled").write_text("deb http://disabled.example.org/debian bookworm main\n")
    assert image.debian_mirror(apt) == "http://mirror.example.org/debian/"
    # sources.list comes first; one-line entries with options; other suites and commented lines skipped
    (apt / "sources.list").write_text("#deb http://old.example.org/debian bookworm main\n"
                                      "deb http://other.example.org/debian bullseye main\n"
                                      "deb [arch=amd64 signed-by=/k.gpg] http://one.example.org/debian bookworm main\n")
    assert image.debian_mirror(apt) == "http://one.example.org/debian"
    # only archives ending in /debian count
    (apt / "sources.list").write_text("deb https://packages.example.com/apt bookworm main\n")
    (apt / "sources.list.d" / "debian.sources").unlink()
    assert image.debian_mirror(apt) == "http://deb.debian.org/debian"
    monkeypatch.setenv("EDGEKIT_DEBIAN_MIRROR", "http://override.example.org/debian")
    assert image.debian_mirror(apt) == "http://override.example.org/debian"


def test_resolve_confines_paths(tmp_path):
    root = tmp_path / "root"
    (root / "data/local/tmp").mkdir(parents=True)
    (root / "etc").mkdir()
    os.symlink("/etc", root / "data/local/tmp/abs")  # a device path: stays inside
    os.symlink("../../../../../..", root / "data/local/tmp/up")  # climbs out of the root
    os.symlink("../tmp", root / "data/local/tmp/rel")
    assert resolve(root, "/data/local/tmp/x") == root / "data/local/tmp/x"
    assert resolve(root, "/data/local/tmp/../tmp/x") == root / "data/local/tmp/x"
    assert resolve(root, "/data/local/tmp/abs/passwd") == root / "etc/passwd"
    assert resolve(root, "/data/local/tmp/rel/y") == root / "data/local/tmp/y"
    assert resolve(root, "/data/local/tmp/up", follow_last=False) == root / "data/local/tmp/up"
    for bad in ("/../etc/passwd", "../x", "/data/local/tmp/../../../../x", "/data/local/tmp/up/etc", "/data/local/tmp/up"):
        with pytest.raises(PathEscape):
            resolve(root, bad)


def test_protocol_framing():
    msg = P.pack_message(P.A_OKAY, 1, 2)
    assert len(msg) == 24 and P.HEADER.unpack(msg)[5] == P.A_OKAY ^ 0xFFFFFFFF
    assert P.shell_packet(P.SHELL_EXIT, b"\x03") == b"\x03\x01\x00\x00\x00\x03"
    b = P.banner({"ro.product.name": "n", "ro.product.model": "m", "ro.product.device": "d"})
    assert b.startswith(b"device::ro.product.name=n;ro.product.model=m;ro.product.device=d;features=")
    assert b"shell_v2" in b
    assert parse_shell_service("shell,v2,TERM=xterm,raw:uname -m") == (True, False, "xterm", "uname -m")
    assert parse_shell_service("shell:") == (False, True, None, "")
    assert parse_shell_service("shell,v2,pty:") == (True, True, None, "")
    assert parse_shell_service("exec:cat /x") == (False, False, None, "cat /x")
