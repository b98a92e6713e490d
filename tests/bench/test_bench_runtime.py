"""The device runtime bundle on a phone-like emulated device (issue 13): no python3 on the device's
PATH, so ``edgekit bench`` pushes edgekit's own Python + numpy + tflite-runtime once and starts it
through its loader. Real adb (own server), real daemon, real armv7 runtime under qemu; tiny models.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from bench_models import make_variant, tiny_models
from test_bench_emulator import adb_server, variant_profile  # noqa: F401 - adb_server: a module-scoped fixture (a server of this module's own)

from edgekit.emulator.control import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def device(adb_server):
    from edgekit import emulator

    port = free_port()
    serial = emulator.start("armv7-lowend", port=port, private=True).serial
    yield serial
    emulator.stop(port)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tiny_models()
    root = tmp_path_factory.mktemp("bench-runtime")
    make_variant(root / "variants", "float", d / "float.tflite")
    make_variant(root / "variants", "int8", d / "int8.tflite")
    ev = root / "evalset"
    ev.mkdir()
    (ev / "x.npy").write_bytes((d / "eval_x.npy").read_bytes())
    (ev / "y.npy").write_bytes((d / "eval_y.npy").read_bytes())
    return root


@pytest.fixture(scope="module")
def bundle():
    from edgekit.emulator.bundle import load_bundle

    return load_bundle()


def sh(serial: str, cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["adb", "-s", serial, "shell", cmd], capture_output=True, text=True, timeout=timeout)


def edgekit(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def bench(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    return edgekit("bench", *args, "--no-count", timeout=timeout)


def stored(db) -> list[dict]:
    with sqlite3.connect(db) as con:
        return [json.loads(r[0]) for r in con.execute("SELECT data FROM measurements")]


def test_the_bundle_is_small_and_self_contained(bundle):
    assert bundle.size_bytes <= 40e6, f"{bundle.size_bytes / 1e6:.1f} MB compressed"
    assert (bundle.python, bundle.tflite_runtime) == ("3.11.2", "2.14.0")
    import tarfile

    with tarfile.open(bundle.path) as tf:
        names = set(tf.getnames())
    assert {"bin/python3.11", "lib/ld-linux-armhf.so.3", "lib/python3.11/os.py", "lib/python3.11/numpy/__init__.py",
            "lib/python3.11/tflite_runtime/interpreter.py", "BUNDLE.json"} <= names
    assert not any("/test/" in n or n.startswith("lib/python3.11/tkinter") for n in names)


def test_the_phone_like_shell_has_no_python(device):
    r = sh(device, "which python3")
    assert r.returncode != 0 and not r.stdout.strip(), r.stdout
    assert sh(device, "echo $PATH").stdout.strip() == "/system/bin:/system/xbin"
    tools = set(sh(device, "ls /system/bin").stdout.split())
    assert {"sh", "tar", "gzip", "sha256sum", "df", "getprop", "nproc"} <= tools


def test_bench_runs_through_the_bundle_and_a_second_bench_pushes_nothing(device, out, bundle, tmp_path):
    args = [out / "variants" / "float", out / "variants" / "int8", "--device", device, "--runs", 3, "--warmup", 1,
            "--threads", 1, "--accuracy", "device", "--eval-data", out / "evalset", "--json"]
    r = bench(*args, "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    assert f"device runtime {bundle.short} pushed: {bundle.size_bytes / 1e6:.1f} MB" in r.stderr, r.stderr
    ms = json.loads(r.stdout)["measurements"]
    assert [m["status"] for m in ms] == ["ok", "ok"], [m.get("reason") for m in ms]
    for m in ms:
        rt = m["device"]["runtime"]
        assert rt["bundle"] == bundle.sha256 and rt["tflite_runtime"] == "2.14.0" and rt["python"] == "3.11.2"
        assert m["detail"]["accuracy"]["agreement_with_host"] == 1.0   # the device agrees with the host runtime
    assert {m["device"]["runtime"]["bundle"] for m in stored(tmp_path / "a" / "bench.sqlite")} == {bundle.sha256}
    where = f"/data/local/tmp/edgekit/{bundle.short}"
    before = sh(device, f"stat -c %Y {where}/.ready; ls -a /data/local/tmp/edgekit").stdout
    assert ".part" not in before and ".tar.gz" not in before
    r = bench(*args, "--out", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    assert "pushed" not in r.stderr, r.stderr
    assert sh(device, f"stat -c %Y {where}/.ready; ls -a /data/local/tmp/edgekit").stdout == before
    r = edgekit("devices", "--json")
    row = next(d for d in json.loads(r.stdout)["devices"] if d["serial"] == device)
    assert row["runtime"] == "present"


def test_predictions_match_the_system_image_python(device, out, bundle):
    """The same device script, model and inputs through the bundle and through the hidden system
    image's own python3 (the route before the bundle): identical predictions."""
    from edgekit.bench.device import Device
    from edgekit.bench.runtime import ensure

    dev = Device(device)
    dev.describe()
    py = ensure(dev).python_argv()
    from edgekit.bench.runner import BATCH, SCRIPT

    base = "/data/local/tmp/edgekit"
    dev.mkdir(f"{base}/eval", f"{base}/out")
    dev.push(SCRIPT, f"{base}/device_script.py")
    dev.push(BATCH, f"{base}/edgekit_batch.py")
    dev.push(out / "evalset" / "x.npy", f"{base}/eval/x-check.npy")
    preds = {}
    for name, argv in (("bundle", py), ("system", ["/usr/bin/python3"])):
        cmd = " ".join([*argv, f"{base}/device_script.py", "--model", f"{base}/check.tflite", "--runs", "2",
                        "--warmup", "0", "--eval-x", f"{base}/eval/x-check.npy", "--pred-out", f"{base}/out/{name}.npy"])
        dev.push(out / "variants" / "int8" / "model.tflite", f"{base}/check.tflite")
        r = sh(device, f"cd {base} && {cmd}", timeout=300)
        assert r.returncode == 0 and "EDGEKIT_RESULT" in r.stdout, r.stdout[-500:] + r.stderr[-500:]
        local = out / f"{name}-preds.npy"
        dev.pull(f"{base}/out/{name}.npy", local)
        preds[name] = np.load(local)
    assert preds["bundle"].shape[0] == np.load(out / "evalset" / "x.npy").shape[0]
    assert np.array_equal(preds["bundle"], preds["system"])


@contextlib.contextmanager
def variant_device(tmp_path, name: str, changes: dict[str, str]):
    """An emulated device of a modified armv7-lowend profile, stopped afterwards."""
    from edgekit import emulator

    port = free_port()
    serial = emulator.start(str(variant_profile(tmp_path, name, changes)), port=port, private=True).serial
    try:
        yield serial
    finally:
        emulator.stop(port)


def refused(serial: str, out, tmp_path, *extra) -> list[str]:
    """bench on ``serial`` exits 2 with a message and nothing measured; returns the message lines."""
    r = bench(out / "variants" / "int8", "--device", serial, "--runs", 2, "--warmup", 0, "--threads", 1,
              "--out", tmp_path / "o", *extra)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o" / "bench.sqlite").exists()
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip() and "warning" not in ln]
    assert len(lines) <= 2, r.stderr      # the error and its hint
    return lines


def test_a_full_data_tmp_gets_one_line_and_nothing_half(adb_server, out, tmp_path):
    with variant_device(tmp_path, "armv7-full", {"memory_mb = 1024": "memory_mb = 1024\ndata_mb = 8"}) as serial:
        lines = refused(serial, out, tmp_path)
        assert "MB free in /data/local/tmp" in lines[0], lines
        left = sh(serial, "ls -a /data/local/tmp/edgekit 2>/dev/null").stdout
        assert ".part" not in left and "tar.gz" not in left, left


def test_a_device_refusing_execution_in_data_tmp_gets_one_line(adb_server, out, tmp_path):
    with variant_device(tmp_path, "armv7-noexec",
                        {"memory_mb = 1024": "memory_mb = 1024\ndata_mb = 96\ndata_noexec = true"}) as serial:
        lines = refused(serial, out, tmp_path)
        assert "refuses to execute programs in /data/local/tmp" in lines[0], lines


def test_a_device_that_is_not_arm_gets_one_line(adb_server, out, tmp_path):
    with variant_device(tmp_path, "x86-phone", {
            '"ro.product.cpu.abi" = "armeabi-v7a"': '"ro.product.cpu.abi" = "x86_64"',
            '"ro.product.cpu.abilist" = "armeabi-v7a,armeabi"': '"ro.product.cpu.abilist" = "x86_64,x86"'}) as serial:
        assert "x86_64" in refused(serial, out, tmp_path)[0]
        lines = refused(serial, out, tmp_path, "--allow-abi")
        assert "not a 32-bit-capable ARM device" in lines[0] and "x86_64" in lines[0], lines
        assert not sh(serial, "ls /data/local/tmp/edgekit 2>/dev/null").stdout.strip()


def test_devices_clean_removes_it(device, bundle):
    from edgekit.bench.device import Device
    from edgekit.bench.runtime import ensure

    dev = Device(device)
    dev.describe()
    ensure(dev)
    r = edgekit("devices", "--clean", "--device", device, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cleaned"][0]["freed_bytes"] > bundle.size_bytes
    assert sh(device, "ls /data/local/tmp/edgekit").returncode != 0
    row = next(d for d in json.loads(edgekit("devices", "--json").stdout)["devices"] if d["serial"] == device)
    assert row["runtime"] == "missing"
