"""The emulated 32-bit ARM Android device, driven with the real Debian adb and the armv7 runtime.

One device is started for the session on a free port (outside adb's emulator scan range) and
stopped at the end. Everything goes through the real `adb` client/server or adbutils.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.emulator import control, image
from edgekit.emulator.profiles import load_profile
from conftest import private_adb_server

from edgekit.errors import EdgekitError

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[1] / "data"
# Like a phone, the device's shell has no python3 on PATH; these checks of the emulation itself use
# the hidden system image's interpreter by its path (edgekit bench uses the pushed runtime bundle).
SYSTEM_PY = "/usr/bin/python3"
REPO = Path(__file__).resolve().parents[2]

RUN_TFLITE = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
d = it.get_input_details()[0]
o = it.get_output_details()[0]
n = int(np.prod(d["shape"]))
outs = []
for k in range(4):
    x = ((np.arange(n) * (7 + 2 * k) + 3 * k) % 256 - 128).astype(np.int8).reshape(d["shape"])
    it.set_tensor(d["index"], x)
    it.invoke()
    outs.append([int(v) for v in it.get_tensor(o["index"]).ravel()])
print(json.dumps({"dtype": str(o["dtype"].__name__), "outputs": outs}))
"""


def _prereqs() -> str | None:
    if os.geteuid() != 0:
        return "needs root (chroot, mounts, cgroups)"
    for tool in ("adb", "qemu-arm-static", "debootstrap"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} missing (run scripts/setup.sh)"
    return None


@pytest.fixture(scope="module")
def adb_server():
    """A private adb server for this module (its own port), so that adb restarts elsewhere cannot
    interfere; every adb / adbutils / edgekit call here inherits ANDROID_ADB_SERVER_PORT."""
    why = _prereqs()
    if why:
        pytest.skip(why)
    with private_adb_server() as port:
        yield port


@pytest.fixture(scope="module")
def serial(adb_server):
    image.build_image()  # quick when cached (scripts/setup.sh builds it)
    port = control.free_port()
    inst = control.start("armv7-lowend", port, private=True)  # private: never handed to other sessions
    yield inst.serial
    control.stop(port)


def adb(serial: str, *args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["adb", "-s", serial, *args], input=input, capture_output=True, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


def sh(serial: str, cmd: str, **kw) -> subprocess.CompletedProcess:
    return adb(serial, "shell", cmd, **kw)


def test_listed_as_device_by_adb_and_adbutils(serial):
    out = subprocess.run(["adb", "devices"], capture_output=True, text=True).stdout
    assert f"{serial}\tdevice" in out
    import adbutils

    client = adbutils.AdbClient()  # (adbutils.adb was bound to the default server port at import)
    serials = [d.serial for d in client.device_list()]
    assert serial in serials
    d = client.device(serial)
    assert d.prop.model == "edgekit armv7-lowend"
    assert d.shell("getprop ro.build.version.sdk").strip() == "27"


def test_getprop_and_arm_userland(serial):
    assert sh(serial, "getprop ro.product.cpu.abi").stdout.decode().strip() == "armeabi-v7a"
    assert sh(serial, "uname -m").stdout.decode().strip() == "armv7l"
    allprops = sh(serial, "getprop").stdout.decode()
    assert "[ro.product.cpu.abilist]: [armeabi-v7a,armeabi]" in allprops
    assert sh(serial, "getprop no.such.prop fallback").stdout.decode().strip() == "fallback"
    # the profile's CPU model reaches qemu, and the device shows the profile's cores and RAM
    info = sh(serial, "echo $QEMU_CPU; nproc; grep MemTotal /proc/meminfo").stdout.decode().split("\n")
    assert info[0] == "cortex-a7"
    assert info[1] == "4"
    assert "1048576 kB" in info[2]


def test_shell_v2_exit_codes_and_separate_streams(serial):
    assert sh(serial, "exit 3").returncode == 3
    assert sh(serial, "true").returncode == 0
    assert sh(serial, "kill -9 $$").returncode == 137
    r = sh(serial, "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, b"out\n", b"err\n")
    r = sh(serial, "tr a-z A-Z", input=b"hello device\n")
    assert r.stdout == b"HELLO DEVICE\n"


def test_concurrent_shells(serial):
    def one(i: int):
        r = sh(serial, f"sleep 1; echo start-{i}; i=0; while [ $i -lt 200 ]; do echo line-{i}-$i; i=$((i+1)); done; exit {i}")
        return i, r

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    for i, r in results:
        lines = r.stdout.decode().splitlines()
        assert r.returncode == i
        assert lines[0] == f"start-{i}" and len(lines) == 201 and lines[-1] == f"line-{i}-199"


def test_push_pull_64mb_keeps_content_and_mode(serial, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(64 * 1024 * 1024 + 12345))
    src.chmod(0o750)
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    r = adb(serial, "push", str(src), "/data/local/tmp/new/dir/big.bin")
    assert r.returncode == 0, r.stderr
    r = sh(serial, "stat -c '%a %s' /data/local/tmp/new/dir/big.bin")
    assert r.stdout.decode().split() == ["750", str(src.stat().st_size)]
    dst = tmp_path / "back.bin"
    r = adb(serial, "pull", "/data/local/tmp/new/dir/big.bin", str(dst))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == want
    sh(serial, "rm -r /data/local/tmp/new")


def test_sync_ls_and_adbutils_sync(serial, tmp_path):
    import adbutils

    d = adbutils.AdbClient().device(serial)
    f = tmp_path / "small.txt"
    f.write_text("hello\n")
    d.sync.push(str(f), "/data/local/tmp/small.txt")
    assert d.sync.read_text("/data/local/tmp/small.txt") == "hello\n"
    names = [e.path for e in d.sync.list("/data/local/tmp")]
    assert "small.txt" in names
    out = adb(serial, "ls", "/data/local/tmp").stdout.decode()
    assert "small.txt" in out


def test_path_escape_is_refused(serial, tmp_path):
    f = tmp_path / "evil.txt"
    f.write_text("x")
    target = tmp_path / "escaped.txt"
    depth = "/".join([".."] * 12)
    r = adb(serial, "push", str(f), f"/data/local/tmp/{depth}{target}")
    # (adb 29 prints the FAIL message on stdout when it is not a terminal)
    assert r.returncode != 0
    assert b"remote refused" in r.stdout + r.stderr and b"escapes the device filesystem" in r.stdout + r.stderr
    assert not target.exists()
    r = adb(serial, "pull", f"/data/local/tmp/{depth}/etc/hostname", str(tmp_path / "h"))
    assert r.returncode != 0 and b"escapes the device filesystem" in r.stdout + r.stderr
    # a symlink (made on the device) climbing out of the device root is refused too
    sh(serial, f"ln -sfn {depth}{tmp_path} /data/local/tmp/out")
    r = adb(serial, "push", str(f), "/data/local/tmp/out/escaped.txt")
    assert r.returncode != 0 and b"escapes the device filesystem" in r.stdout + r.stderr
    assert not target.exists()
    # pushing onto a symlink replaces the link (as adbd does); the link's target is untouched
    sh(serial, "echo keep > /data/local/tmp/target.txt; ln -sfn target.txt /data/local/tmp/link.txt")
    assert adb(serial, "push", str(f), "/data/local/tmp/link.txt").returncode == 0
    r = sh(serial, "cat /data/local/tmp/target.txt; test -L /data/local/tmp/link.txt || cat /data/local/tmp/link.txt")
    assert r.stdout == b"keep\nx"
    # an absolute symlink is a device path: it stays inside the device
    sh(serial, "ln -sfn /etc /data/local/tmp/etc-link")
    r = adb(serial, "pull", "/data/local/tmp/etc-link/debian_version", str(tmp_path / "dv"))
    assert r.returncode == 0
    assert (tmp_path / "dv").read_text().startswith("12.")


def test_int8_tflite_matches_host_runtime(serial, tmp_path):
    model = DATA / "emulator_int8.tflite"
    script = tmp_path / "run_tflite.py"
    script.write_text(RUN_TFLITE)
    for p in (model, script):
        assert adb(serial, "push", str(p), f"/data/local/tmp/{p.name}").returncode == 0
    r = sh(serial, f"cd /data/local/tmp && {SYSTEM_PY} run_tflite.py emulator_int8.tflite", timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    device = json.loads(r.stdout)
    # the host's x86 tflite-runtime 2.14, in a child process that never imported tensorflow
    host = subprocess.run([sys.executable, str(script), str(model)], capture_output=True, text=True, timeout=120)
    assert host.returncode == 0, host.stderr
    assert device["dtype"] == "int8"
    assert device == json.loads(host.stdout)
    arch = sh(serial, f"{SYSTEM_PY} -c 'import platform, tflite_runtime; print(platform.machine(), tflite_runtime.__version__)'")
    assert arch.stdout.decode().split() == ["armv7l", "2.14.0"]


ALLOCATE = ("import sys\nchunks = []\nfor i in range(40):\n    chunks.append(bytearray(b'x') * (64 << 20))\n"
            "    print((i + 1) * 64, flush=True)\nprint('survived')\n")


def test_memory_cap_stops_and_reports(serial):
    _check_memory_cap(serial)


def test_memory_cap_without_cgroup_uses_watchdog(serial, monkeypatch):
    """Hosts without a writable memory cgroup: the daemon polls RSS and kills past the cap."""
    monkeypatch.setenv("EDGEKIT_EMULATOR_NO_CGROUP", "1")
    inst = control.start("armv7-lowend", control.free_port(), private=True)
    try:
        assert control.load_instance(inst.port).daemon["memory_cap_by"] == "rss watchdog"
        _check_memory_cap(inst.serial)
    finally:
        control.stop(inst.port)


def _check_memory_cap(serial):
    cap_mb = load_profile("armv7-lowend").memory_mb
    r = sh(serial, f"{SYSTEM_PY} -c \"{ALLOCATE}\"", timeout=300)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 137, (r.returncode, err)
    assert "survived" not in out
    reached = int(out.split()[-1]) if out.split() else 0
    assert reached < cap_mb + 256  # (the RSS watchdog may overshoot by what one poll period allocates)
    assert "out of memory" in err and f"{cap_mb} MB memory cap" in err
    # the device is still fine afterwards
    assert sh(serial, "echo alive").stdout == b"alive\n"


def test_cli_status_and_devices(serial):
    edgekit = [sys.executable, "-m", "edgekit.cli"]
    r = subprocess.run([*edgekit, "emulator", "status", "--json"], capture_output=True, text=True)
    rows = {d["serial"]: d for d in json.loads(r.stdout)["devices"]}
    assert rows[serial]["state"] == "device" and rows[serial]["profile"] == "armv7-lowend"
    r = subprocess.run([*edgekit, "devices", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dev = {d["serial"]: d for d in json.loads(r.stdout)["devices"]}[serial]
    assert (dev["abi"], dev["sdk"], dev["cores"], dev["ram_mb"]) == ("armeabi-v7a", "27", 4, 1024)
    assert dev["model"] == "edgekit armv7-lowend"


def test_bad_input_one_line_errors(serial, tmp_path):
    port = int(serial.rsplit(":", 1)[1])
    with pytest.raises(EdgekitError, match="already used by the emulated device"):
        control.start("armv7-midrange", port)
    assert control.start("armv7-lowend", port).serial == serial  # same profile: reused
    edgekit = [sys.executable, "-m", "edgekit.cli"]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        r = subprocess.run([*edgekit, "emulator", "start", "--port", str(busy)], capture_output=True, text=True)
    assert r.returncode == 2 and "in use" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    env = dict(os.environ, EDGEKIT_CACHE=str(tmp_path / "empty"))
    r = subprocess.run([*edgekit, "emulator", "start", "--port", str(busy)], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "edgekit emulator build" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([*edgekit, "emulator", "start", "--profile", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown device profile" in r.stderr
    for cmd in (["emulator", "start"], ["emulator", "stop"], ["emulator", "status"], ["emulator", "build"], ["devices"]):
        r = subprocess.run([*edgekit, *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "Example" in r.stdout


def test_crash_shows_offline_and_stop_leaves_nothing(serial):
    """A second device: kill its daemon, see it offline, stop it: no process of it survives."""
    inst = control.start("armv7-midrange", control.free_port(), private=True)
    try:
        assert sh(inst.serial, "getprop ro.product.model").stdout == b"edgekit armv7-midrange\n"
        assert sh(inst.serial, "echo $QEMU_CPU").stdout == b"cortex-a15\n"
        sh(inst.serial, "sleep 1000 >/dev/null 2>&1 &")
        cg = control.load_instance(inst.port).daemon["cgroup"]
        pids = [int(p) for p in Path(cg["path"], "cgroup.procs").read_text().split()]
        assert pids  # the background sleep (under qemu) is in the device's cgroup
        os.kill(inst.pid, 9)
        deadline = time.time() + 10
        while True:
            row = [r for r in control.status() if r["serial"] == inst.serial][0]
            if row["state"] == "offline" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert row["state"] == "offline" and row["daemon"] == "not running"
    finally:
        control.stop(inst.port)
    for pid in pids + [inst.pid]:
        assert not Path(f"/proc/{pid}").exists() or "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    assert not Path(cg["path"]).exists()
    assert inst.serial not in subprocess.run(["adb", "devices"], capture_output=True, text=True).stdout
    # the session device is unaffected
    assert sh(serial, "echo ok").stdout == b"ok\n"


def test_rebuild_refused_while_a_device_uses_the_image(serial):
    """`emulator build --force` must not pull the image from under a running device (its overlay's lower layer)."""
    with pytest.raises(EdgekitError, match="in use by running emulated devices") as exc:
        image.build_image(force=True)
    assert serial in exc.value.one_line()
    assert image.image_ready()
