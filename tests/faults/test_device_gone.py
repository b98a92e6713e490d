"""The device gone in the middle of a file transfer (docs/faults.md): the emulated device's daemon is
killed while a 48 MB file is being pushed to it / pulled from it. The adb layer says so in one line
(DeviceLost, exit 3 from the CLI), nothing half-written is kept on the host, and bench keeps every
measurement stored before it and continues with --resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import private_adb_server

pytestmark = pytest.mark.slow

SIZE = 48 << 20


@pytest.fixture(scope="module")
def device():
    from edgekit.emulator import image

    if os.geteuid() != 0 or not image.image_ready():
        pytest.skip("the emulated device needs root and its image (edgekit emulator build)")
    from edgekit import emulator
    from edgekit.emulator.control import free_port

    with private_adb_server():
        port = free_port()
        inst = emulator.start("armv7-lowend", port=port, private=True)
        yield inst.serial, port
        emulator.stop(port)


def _instance(port):
    from edgekit import emulator

    return next(i for i in emulator.instances() if i.port == port)


def _kill_when(cond, port, seconds=60.0) -> threading.Thread:
    """Kill the device's daemon as soon as ``cond()`` holds (polled every millisecond)."""
    pid = _instance(port).pid

    def watch():
        end = time.time() + seconds
        while time.time() < end:
            if cond():
                os.kill(pid, 9)
                return
            time.sleep(0.001)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def _restart(port):
    from edgekit import emulator

    emulator.start("armv7-lowend", port=port, private=True)


def test_device_gone_during_push_and_during_pull_is_one_device_lost_error(device, tmp_path):
    from edgekit.adb import AdbDevice, DeviceLost

    serial, port = device
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(SIZE))
    # push: the partial file appears in the instance's writable layer on the host
    target = _instance(port).run_dir / "upper" / "data" / "local" / "tmp" / "big.bin"
    if not (_instance(port).run_dir / "upper").is_dir():
        pytest.skip("the device's writable layer is not visible from the host here (tmpfs fallback)")
    watcher = _kill_when(lambda: target.exists() and 0 < target.stat().st_size < SIZE, port)
    with pytest.raises(DeviceLost) as e:
        AdbDevice(serial).push(big, "/data/local/tmp/big.bin")
    watcher.join()
    assert "push of big.bin failed" in e.value.one_line() and serial in e.value.one_line()
    assert "\n" not in e.value.one_line()
    _restart(port)
    dev = AdbDevice(serial)
    dev.ensure_online()
    dev.push(big, "/data/local/tmp/big.bin")
    # pull: the daemon dies while the host is receiving
    local = tmp_path / "back.bin"
    watcher = _kill_when(lambda: local.exists() and 0 < local.stat().st_size < SIZE, port)
    with pytest.raises(DeviceLost) as e:
        dev.pull("/data/local/tmp/big.bin", local)
    watcher.join()
    assert "pull of /data/local/tmp/big.bin failed" in e.value.one_line()
    assert not local.exists() or local.stat().st_size < SIZE    # (the caller's temp file: bench pulls into a temp dir)
    _restart(port)


def test_bench_with_the_device_gone_during_a_push_keeps_what_was_measured(device, tmp_path):
    """A 48 MB model: the daemon dies while it is pushed; exit 3 naming the device, the measurement
    before it kept, --resume after a restart measures the rest once."""
    from bench_models import make_variant, tiny_models

    serial, port = device
    d = tiny_models()
    variants = tmp_path / "variants"
    make_variant(variants, "a-small", d / "int8.tflite")
    make_variant(variants, "b-big", d / "big.tflite")
    args = [variants, "--device", serial, "--runs", 2, "--warmup", 0, "--threads", 1, "--no-count", "--out", tmp_path]
    upper = _instance(port).run_dir / "upper" / "data" / "local" / "tmp" / "edgekit" / "models"
    size = (d / "big.tflite").stat().st_size

    def pushing_big():
        return any(0 < f.stat().st_size < size for f in upper.glob("*/*") if f.name.endswith(".tflite")
                   and f.stat().st_size > 1 << 20)

    watcher = _kill_when(pushing_big, port, seconds=120)
    r = subprocess.run([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args)], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    watcher.join()
    assert r.returncode == 3, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1 and serial in lines[0] and "--resume" in lines[0] and "Traceback" not in r.stderr, r.stderr
    _restart(port)
    again = subprocess.run([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args), "--resume", "--json"],
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    res = json.loads(again.stdout)
    assert res["skipped"] == 1 and res["measured"] == 1
    assert {m["variant"]: m["status"] for m in res["measurements"]} == {"a-small": "ok", "b-big": "ok"}
