"""Fast checks of the emulator's pure parts: profiles, image cache rules, path confinement, protocol framing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


def test_shell_services_recognised():
    from edgekit.emulator.shell_service import is_shell_service

    for yes in ("shell:", "shell:ls", "shell,v2,raw:ls", "exec:cat /x"):
        assert is_shell_service(yes), yes
    for no in ("shellx:ls", "sync:", "exec", "reboot:", "tcpip:5555"):
        assert not is_shell_service(no), no


# -- profiles as package data ----------------------------------------------------------------------

def test_profiles_come_from_the_package(monkeypatch):
    import importlib.resources

    from edgekit.emulator.profiles import list_profiles

    monkeypatch.delenv("EDGEKIT_DEVICES", raising=False)
    pkg = importlib.resources.files("edgekit.devices")
    assert {"armv7-lowend", "armv7-midrange"} <= set(list_profiles())
    assert load_profile("armv7-lowend").path == Path(str(pkg / "armv7-lowend.toml"))
    assert load_profile("armv7-lowend").cost_model["core"] == "Cortex-A7"


def test_missing_profile_package_is_one_line(tmp_path):
    code = ("import sys; sys.modules['edgekit.devices'] = None\n"
            "from edgekit.emulator.profiles import load_profile\n"
            "from edgekit.errors import EdgekitError\n"
            "try:\n    load_profile('armv7-lowend')\nexcept EdgekitError as e:\n    print(e.one_line())\n")
    env = {k: v for k, v in os.environ.items() if k != "EDGEKIT_DEVICES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("the shipped device profiles are not installed (no package edgekit.devices)")
    assert "EDGEKIT_DEVICES" in out.stdout and len(out.stdout.strip().splitlines()) == 1


def test_devices_env_names_a_folder(tmp_path, monkeypatch):
    from edgekit.emulator.profiles import list_profiles

    monkeypatch.setenv("EDGEKIT_DEVICES", str(tmp_path / "nowhere"))
    assert list_profiles() == []
    with pytest.raises(EdgekitError) as exc:
        load_profile("armv7-lowend")
    assert "is not a folder" in exc.value.one_line()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "lab-phone.toml").write_text('kind = "real"\nserial = "LAB1"\n')
    (mine / "notes.txt").write_text("not a profile")
    monkeypatch.setenv("EDGEKIT_DEVICES", str(mine))
    assert list_profiles() == ["lab-phone"]  # the folder replaces the shipped profiles
    assert load_profile("lab-phone").name == "lab-phone" and load_profile("lab-phone").path == mine / "lab-phone.toml"
    with pytest.raises(EdgekitError, match="known: lab-phone"):
        load_profile("armv7-lowend")


def test_status_lists_profiles_json_and_text(tmp_path):
    """`edgekit emulator status` lists every profile (errors included) beside the running devices."""
    mine = tmp_path / "devices"
    mine.mkdir()
    shipped = load_profile("armv7-lowend").path.read_text()
    (mine / "armv7-lowend.toml").write_text(shipped)
    (mine / "phone.toml").write_text('kind = "real"\nserial = "ZY9"\n')
    (mine / "broken.toml").write_text(shipped.replace('name = "armv7-lowend"', 'name = "broken"')
                                      .replace("alu = 0.75", "alu = -1"))
    env = dict(os.environ, EDGEKIT_DEVICES=str(mine), EDGEKIT_CACHE=str(tmp_path / "cache"))
    edgekit = [sys.executable, "-m", "edgekit.cli", "emulator", "status"]
    r = subprocess.run([*edgekit, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["devices"] == []
    rows = {p["name"]: p for p in out["profiles"]}
    assert sorted(rows) == ["armv7-lowend", "broken", "phone"]
    low = rows["armv7-lowend"]
    assert (low["kind"], low["qemu_cpu"], low["memory_mb"], low["cores"]) == ("emulated", "cortex-a7", 1024, 4)
    assert low["cost_model"] == {"core": "Cortex-A7", "clock_mhz": 1300.0} and "error" not in low
    assert (rows["phone"]["kind"], rows["phone"]["serial"], rows["phone"]["cost_model"]) == ("real", "ZY9", None)
    assert "cost_model.cycles.alu must be a number >= 0" in rows["broken"]["error"]
    r = subprocess.run(edgekit, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    low_line = next(l for l in lines if l.split()[:1] == ["armv7-lowend"])
    assert low_line.split()[:6] == ["armv7-lowend", "emulated", "cortex-a7", "1024", "MB", "4"]
    assert "Cortex-A7 @ 1300 MHz" in low_line
    assert "no emulated device running" in r.stdout
    assert r.stderr.strip().splitlines() == [f"profile broken: {rows['broken']['error']}"]


# -- instance state ----------------------------------------------------------------------------------

def test_instance_state_from_run_dirs(tmp_path, monkeypatch):
    from edgekit.emulator import instance

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    assert instance.instances() == []
    d = instance.run_dir(40123)
    d.mkdir(parents=True)
    (d / instance.STATE_FILE).write_text(json.dumps({"port": 40123, "host": "127.0.0.1", "profile": "armv7-lowend",
                                                     "serial": "127.0.0.1:40123", "pid": None, "private": True}))
    (d / instance.READY_FILE).write_text(json.dumps({"pid": os.getpid(), "memory_cap_mb": 1024,
                                                     "memory_cap_by": "cgroup v2"}))
    (d / instance.LOG_FILE).write_text("21:00:00 started\n21:00:01 the last line\n\n")
    (tmp_path / "run" / "40200").mkdir()           # no state.json: not an instance
    (tmp_path / "run" / "lock-dir").mkdir()        # not a port
    [inst] = instance.instances()
    assert (inst.port, inst.profile, inst.serial, inst.pid, inst.private) == (40123, "armv7-lowend", "127.0.0.1:40123",
                                                                              os.getpid(), True)
    assert inst.as_dict()["memory_cap_by"] == "cgroup v2" and inst.as_dict()["log"] == str(d / "daemon.log")
    assert not inst.daemon_alive()  # a live pid, but not a device daemon serving that port
    assert instance.log_tail(inst.log_path) == "21:00:01 the last line"
    assert instance.log_tail(d / "nope.log") == "no log"
    assert instance.load_instance(40200) is None


def test_adb_serial_prefers_what_the_adb_server_lists():
    from edgekit.emulator.control import adb_serial
    from edgekit.emulator.instance import Instance, emulator_alias

    assert emulator_alias("127.0.0.1", 5555) == "emulator-5554"
    assert emulator_alias("localhost", 5585) == "emulator-5584"
    for host, port in (("127.0.0.1", 5587), ("127.0.0.1", 5556), ("127.0.0.1", 5553), ("10.0.0.2", 5555)):
        assert emulator_alias(host, port) is None, (host, port)
    inst = Instance(port=5557, host="127.0.0.1", profile="armv7-lowend", serial="127.0.0.1:5557", run_dir=Path("/x"))
    assert adb_serial(inst, {"127.0.0.1:5557": "device", "emulator-5556": "device"}) == ("127.0.0.1:5557", "device")
    assert adb_serial(inst, {"emulator-5556": "device"}) == ("emulator-5556", "device")
    assert adb_serial(inst, {"emulator-5556": "offline"}) == ("emulator-5556", "offline")
    assert adb_serial(inst, {"emulator-5554": "device"}) == ("127.0.0.1:5557", "not connected")
    far = Instance(port=40123, host="127.0.0.1", profile="p", serial="127.0.0.1:40123", run_dir=Path("/x"))
    assert adb_serial(far, {"emulator-40122": "device"}) == ("127.0.0.1:40123", "not connected")


# -- the memory cap without a cgroup ------------------------------------------------------------------

def test_watchdog_cap_kills_the_largest_session_process_past_the_cap():
    import asyncio

    from edgekit.emulator.memory_cap import create_cap
    from edgekit.emulator.watchdog import WatchdogCap, session_pids

    big = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(60 << 20); time.sleep(60)"],
                           start_new_session=True, stdout=subprocess.PIPE)
    small = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        time.sleep(1.0)  # let the child allocate
        sessions = {big.pid, small.pid}
        assert sorted(session_pids(sessions)) == sorted(sessions)
        logs: list[str] = []
        os.environ["EDGEKIT_EMULATOR_NO_CGROUP"] = "1"
        try:
            cap = create_cap("unit", 64, sessions, logs.append)
        finally:
            del os.environ["EDGEKIT_EMULATOR_NO_CGROUP"]
        assert isinstance(cap, WatchdogCap) and cap.by == "rss watchdog" and cap.cgroup is None
        assert "polling RSS" in cap.describe()

        async def watch(limit_bytes: int, seconds: float) -> None:
            cap.limit_bytes = limit_bytes
            task = asyncio.create_task(cap.enforce())
            await asyncio.sleep(seconds)
            task.cancel()

        asyncio.run(watch(200 << 20, 0.5))  # both fit in 200 MB: nobody is killed
        assert cap.kills() == 0 and big.poll() is None and small.poll() is None
        asyncio.run(watch(30 << 20, 0.5))   # 60+ MB > 30 MB: the largest (the allocator) goes
        assert big.wait(timeout=10) == -signal.SIGKILL
        assert small.poll() is None and cap.kills() == 1
        assert "memory watchdog:" in logs[-1] and f"killed pid {big.pid}" in logs[-1]
    finally:
        for p in (big, small):
            p.kill()
            p.wait()
