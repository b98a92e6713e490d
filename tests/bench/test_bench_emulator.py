"""End to end on the emulated armv7 device: real adb (own server port), real daemon, armv7 runtime.

Tiny 8x8 models and few runs keep this quick even under qemu.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench_models import make_variant, tiny_models
from conftest import private_adb_server

from edgekit.emulator.control import free_port

pytestmark = pytest.mark.slow

WEIRD = "x; touch PWNED; $(touch PWNED2) `touch PWNED3` 'q\" && rm -rf .."


def _emulator_available() -> str | None:
    if os.geteuid() != 0:
        return "the emulated device needs root"
    try:
        from edgekit.emulator import image
    except ImportError as exc:
        return f"edgekit.emulator not importable: {exc}"
    if not image.image_ready():
        return "device image not built (edgekit emulator build)"
    return None


@pytest.fixture(scope="module")
def adb_server():
    """A private adb server for this module, so other tests' adb restarts cannot interfere."""
    why = _emulator_available()
    if why:
        pytest.skip(why)
    with private_adb_server() as port:
        yield port


@pytest.fixture(scope="module")
def device(adb_server):
    from edgekit import emulator

    port = free_port()
    serial = emulator.start("armv7-lowend", port=port, private=True).serial   # never handed to others
    yield serial, port
    emulator.stop(port)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tiny_models()
    root = tmp_path_factory.mktemp("bench-e2e")
    vs = root / "variants"
    make_variant(vs, "float", d / "float.tflite")
    make_variant(vs, "int8", d / "int8.tflite")
    make_variant(vs, "dynamic", d / "dynamic.tflite")
    make_variant(vs, WEIRD, d / "int8.tflite")
    ev = root / "evalset"
    ev.mkdir()
    (ev / "x.npy").write_bytes((d / "eval_x.npy").read_bytes())
    (ev / "y.npy").write_bytes((d / "eval_y.npy").read_bytes())
    return root


def variant_profile(tmp_path: Path, name: str, changes: dict[str, str] | None = None) -> Path:
    """A copy of the armv7-lowend profile named ``name`` with ``changes`` (old text -> new) applied."""
    from edgekit import emulator

    text = Path(emulator.load_profile("armv7-lowend").path).read_text().replace('name = "armv7-lowend"', f'name = "{name}"')
    for old, new in (changes or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    prof = tmp_path / f"{name}.toml"
    prof.write_text(text)
    return prof


def daemon_log(port: int) -> str:
    from edgekit import emulator

    for i in emulator.instances():
        if i.port == port:
            try:
                return "\n".join(i.log_path.read_text(errors="replace").splitlines()[-15:])
            except OSError:
                return "(no log)"
    return "(no instance)"


def bench(*args, timeout=600):
    # these tests are about the sweep (adb, resume, failures): the counted run beside the timed runs
    # (bench's default on the emulated device) is covered by test_bench_headline.py
    cmd = [sys.executable, "-m", "edgekit.cli", "bench", *map(str, args), "--no-count"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def rows(db: Path):
    with sqlite3.connect(db) as c:
        try:
            return c.execute("SELECT key, variant, threads, status, finished FROM measurements ORDER BY seq").fetchall()
        except sqlite3.OperationalError as exc:   # the file exists but bench has not created its table yet
            if "no such table" in str(exc):
                return []
            raise


def stored(db: Path) -> int:
    """How many measurements the store holds now (0 while bench is still creating it)."""
    try:
        return len(rows(db)) if db.exists() else 0
    except sqlite3.OperationalError:
        return 0


def test_sweep_with_device_accuracy_incompatible_and_hostile_names(device, out):
    serial, port = device
    r = bench(out / "variants", "--device", serial, "--runs", 5, "--warmup", 1, "--threads", "1,2",
              "--accuracy", "device", "--eval-data", out / "evalset", "--json")
    assert r.returncode == 0, r.stderr + daemon_log(port)
    res = json.loads(r.stdout)
    ms = {(m["variant"], m["threads"]): m for m in res["measurements"]}
    assert len(ms) == 8 and res["measured"] == 8 and res["errors"] == {}
    for name in ("float", "int8", WEIRD):
        for th in (1, 2):
            m = ms[(name, th)]
            assert m["status"] == "ok", m["reason"]
            assert m["device"]["abi"] == "armeabi-v7a" and m["device"]["machine"] == "armv7l"
            assert m["device"]["runtime"]["tflite_runtime"] == "2.14.0"
            assert len(m["latencies_ms"]) == 5 and m["stats"]["n"] == 5 and m["stats"]["p50"] > 0
            assert m["init_ms"] > 0 and m["first_inference_ms"] > 0 and m["peak_memory_mb"] > 0
            assert m["size_bytes"] > 0 and m["accuracy_n"] == 12 and 0 <= m["accuracy"] <= 1
    # int8 is bit-exact between the armv7 and the host runtime: same accuracy, full agreement
    for name in ("int8", WEIRD):
        acc = ms[(name, 1)]["detail"]["accuracy"]
        assert acc["agreement_with_host"] == 1.0
        assert ms[(name, 1)]["accuracy"] == acc["host_accuracy_same_examples"]
    # compatibility first: the runtime's own words, for every thread count, and the sweep went on
    for th in (1, 2):
        m = ms[("dynamic", th)]
        assert m["status"] == "incompatible"
        assert "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in m["reason"]
    # the hostile variant name ran as a file name, nothing else ran
    ls = subprocess.run(["adb", "-s", serial, "shell", "ls -a /data/local/tmp/edgekit /data/local/tmp"],
                        capture_output=True, text=True, timeout=60).stdout
    assert "PWNED" not in ls and "device_script.py" in ls
    assert len(rows(out / "bench.sqlite")) == 8
    # no terminal: one plain progress line per finished measurement, with elapsed time and ETA
    done = [ln for ln in r.stderr.splitlines() if re.match(r"^\[bench [1-8]/8  \d:\d\d:\d\d elapsed", ln)]
    assert len(done) == 8, r.stderr
    assert all(", ETA " in ln for ln in done[:-1]) and f"{serial}: dynamic ×1t incompatible: Didn't find op" in r.stderr


def test_bare_tflite_file_named_like_a_shell_command(device, tmp_path):
    serial, _ = device
    d = tmp_path / "x; rm -rf "
    d.mkdir()
    f = d / "data;.tflite"                      # the path reads "x; rm -rf /data;.tflite"
    f.write_bytes((tiny_models() / "int8.tflite").read_bytes())
    r = bench(f"{tmp_path}/x; rm -rf /data;.tflite", "--device", serial, "--runs", 3, "--warmup", 0,
              "--threads", 1, "--out", tmp_path / "o", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["measurements"][0]
    assert m["status"] == "ok" and m["variant"] == "data;"
    probe = subprocess.run(["adb", "-s", serial, "shell", "test -d /data/local/tmp/edgekit && echo alive"],
                           capture_output=True, text=True, timeout=60).stdout
    assert "alive" in probe


def test_truncated_file_is_recorded_with_the_pre_check_reason_never_pushed(device, tmp_path):
    serial, _ = device
    good = (tiny_models() / "int8.tflite").read_bytes()
    d = tmp_path / "files"
    d.mkdir()
    (d / "cut.tflite").write_bytes(good[: len(good) // 2])
    (d / "whole.tflite").write_bytes(good)
    r = bench(d / "cut.tflite", d / "whole.tflite", "--device", serial, "--runs", 3, "--warmup", 0, "--threads", 1,
              "--out", tmp_path / "o", "--json")
    ms = {m["variant"]: m for m in json.loads(r.stdout)["measurements"]}
    assert ms["whole"]["status"] == "ok", ms["whole"]["reason"]
    cut = ms["cut"]
    assert cut["status"] == "failed" and cut["reason"].startswith("not a valid .tflite: truncated: "), cut["reason"]
    assert "basic_string" not in cut["reason"] and "Traceback" not in r.stderr
    ls = subprocess.run(["adb", "-s", serial, "shell", "ls /data/local/tmp/edgekit"], capture_output=True,
                        text=True, timeout=60).stdout
    assert "cut" not in ls       # never pushed
    assert len(rows(tmp_path / "o" / "bench.sqlite")) == 2


def test_kill_emulator_mid_sweep_then_resume_measures_nothing_twice(device, out, tmp_path):
    from edgekit import emulator

    serial, port = device
    db = tmp_path / "bench.sqlite"
    # 3 variants x 2 threads, each run long enough to kill the device after the first is stored
    args = [out / "variants" / "float", out / "variants" / "int8", out / "variants" / "dynamic",
            "--device", serial, "--runs", 4000, "--warmup", 1, "--threads", "1,2", "--out", tmp_path]
    p = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            if db.exists() and len(rows(db)) >= 1:
                break
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()
        inst = next(i for i in emulator.instances() if i.port == port)
        os.kill(inst.pid, 9)                       # the emulator dies mid-sweep
        stdout, stderr = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 3, (stdout, stderr)
    err = [ln for ln in stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(err) == 1 and serial in err[0] and "--resume" in err[0], stderr
    before = rows(db)
    assert 1 <= len(before) < 6

    emulator.start("armv7-lowend", port=port, private=True)   # restart it
    r = bench(*args, "--resume", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["skipped"] == len(before) and res["measured"] == 6 - len(before)
    after = rows(db)
    assert len(after) == 6 and len({k for k, *_ in after}) == 6          # every measurement exactly once
    assert after[: len(before)] == before                                 # the earlier ones untouched
    assert sorted((v, t) for _, v, t, *_ in after) == sorted((v, t) for v in ("dynamic", "float", "int8") for t in (1, 2))


def test_benchmark_model_runner_plumbing_with_a_stand_in_binary(device, out, tmp_path):
    """No benchmark_model binary can be fetched here: a shell stand-in prints the real tool's
    output format and records the argv it got, to test push, quoting, flags and parsing."""
    serial, _ = device
    stand_in = tmp_path / "benchmark_model"
    stand_in.write_text(
        "#!/bin/sh\n"
        "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > /data/local/tmp/edgekit/argv.txt\n"
        "echo 'INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.'\n"
        "echo 'INFO: count=2 first=1500 curr=1400 min=1400 max=1500 avg=1450 std=50'\n"
        "echo 'INFO: Running benchmark for at least 3 iterations and at least 1 seconds but terminate if exceeding 150 seconds.'\n"
        "echo 'INFO: count=3 first=1300 curr=1200 min=1200 max=1300 avg=1250 std=40.8 p5=1200 median=1250 p95=1300'\n"
        "echo 'INFO: Inference timings in us: Init: 2100, First inference: 1500, Warmup (avg): 1450, Inference (avg): 1250'\n"
        "echo 'INFO: Memory footprint delta from the start of the tool (MB): init=1.5 overall=2.25'\n"
        "echo 'INFO: Overall peak memory footprint (MB) via periodic monitoring: 7.5'\n"
    )
    r = bench(out / "variants" / WEIRD, "--device", serial, "--runner", "benchmark_model", "--benchmark-binary", stand_in,
              "--runs", 3, "--warmup", 1, "--threads", 2, "--out", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["measurements"][0]
    assert m["runner"] == "benchmark_model" and m["status"] == "ok"
    assert m["stats"]["p50"] == 1.25 and m["init_ms"] == 2.1 and m["peak_memory_mb"] == 7.5
    argv = subprocess.run(["adb", "-s", serial, "shell", "cat /data/local/tmp/edgekit/argv.txt"],
                          capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert argv[0].startswith("--graph=/data/local/tmp/edgekit/models/") and argv[0].endswith(WEIRD + ".tflite")
    assert argv[1:] == ["--num_threads=2", "--num_runs=3", "--warmup_runs=1", "--use_xnnpack=false",
                        "--report_peak_memory_footprint=true"]


def test_emulator_option_alone_uses_the_default_profile(device, out, tmp_path):
    """``--emulator`` with no value (argv ends or the next token is not a profile) means armv7-lowend,
    started or reused through edgekit.emulator.ensure_running; one this test started is stopped."""
    from edgekit import emulator

    before = {i.port for i in emulator.instances()}
    try:
        r = bench(out / "variants" / "int8", "--emulator", "--runs", 2, "--warmup", 0, "--threads", 1,
                  "--out", tmp_path, "--json")
    finally:
        for i in emulator.instances():
            if i.port not in before:
                emulator.stop(i.port)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["measurements"][0]
    assert m["status"] == "ok" and m["device"]["profile"] == "armv7-lowend" and m["device"]["emulated"] is True


def test_non_arm_abi_is_refused_unless_allowed_and_devices_run_in_parallel(device, out, tmp_path):
    """A second emulated device whose profile claims x86_64: refused without --allow-abi; with it,
    both devices are measured in the same sweep (one worker each)."""
    from edgekit import emulator

    serial, _ = device
    prof = variant_profile(tmp_path, "x86-test", {'"ro.product.cpu.abi" = "armeabi-v7a"': '"ro.product.cpu.abi" = "x86_64"'})
    port = free_port()
    other = emulator.start(str(prof), port=port, private=True).serial
    try:
        r = bench(out / "variants" / "int8", "--device", serial, "--device", other, "--runs", 2, "--warmup", 0,
                  "--threads", 1, "--out", tmp_path / "o", "--json")
        assert r.returncode == 2 and "x86_64" in r.stderr and "--allow-abi" in r.stderr, r.stderr
        assert not (tmp_path / "o" / "bench.sqlite").exists()
        r = bench(out / "variants" / "int8", "--device", serial, "--device", other, "--allow-abi", "--runs", 2,
                  "--warmup", 0, "--threads", 1, "--out", tmp_path / "o", "--json")
        assert r.returncode == 0, r.stderr
        ms = json.loads(r.stdout)["measurements"]
        assert sorted(m["device_serial"] for m in ms) == sorted([serial, other])
        assert {m["device"]["abi"] for m in ms} == {"armeabi-v7a", "x86_64"}
        assert {m["device"].get("profile") for m in ms} == {"armv7-lowend", "x86-test"}
        assert "x86_64" in r.stderr and "warning" in r.stderr
        assert [w for m in ms for w in m["warnings"] if w.startswith("abi:")] == ["abi: device ABI x86_64 is not armeabi-v7a (measured with --allow-abi)"]
    finally:
        emulator.stop(port)


def test_timeout_fails_one_measurement_and_cooldown_separates_variants(device, out, tmp_path):
    serial, _ = device
    r = bench(out / "variants" / "float", out / "variants" / "int8", "--device", serial, "--runs", 100000000,
              "--warmup", 0, "--threads", 1, "--timeout", 2, "--cooldown", 1.5, "--out", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    ms = json.loads(r.stdout)["measurements"]
    assert [m["status"] for m in ms] == ["failed", "failed"]
    assert all("deadline of 2 s exceeded" in m["reason"] for m in ms)
    from datetime import datetime

    first_done = datetime.fromisoformat(ms[0]["finished"])
    second_start = datetime.fromisoformat(ms[1]["started"])
    assert (second_start - first_done).total_seconds() >= 1.0


def test_killed_adb_server_mid_sweep_is_retried_once_and_loses_nothing(device, out, tmp_path):
    """Killing the adb server mid-measurement: the next adb call starts a new server, the device
    (a TCP serial) is connected again, and the interrupted measurement is run once more — recorded
    as a warning on exactly that measurement. The sweep ends with every measurement exactly once."""
    serial, _ = device
    db = tmp_path / "bench.sqlite"
    args = [out / "variants" / "float", out / "variants" / "int8", "--device", serial, "--runs", 20000,
            "--warmup", 0, "--threads", "1,2", "--out", tmp_path]
    p = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and not (db.exists() and rows(db)):
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()
        killed = subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)
        assert killed.returncode == 0
        stdout, stderr = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, stderr
    res = json.loads(stdout)
    assert res["measured"] == 4 and res["errors"] == {}
    retried = [m for m in res["measurements"] if any(w.startswith("retried once after a transient adb error")
                                                       for w in m["warnings"])]
    assert len(retried) == 1 and retried[0]["status"] == "ok", res["measurements"]
    assert "adb connection dropped, device still online: retrying once" in stderr
    after = rows(db)
    assert len(after) == 4 and len({k for k, *_ in after}) == 4
    r = bench(*args, "--resume", "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert (again["measured"], again["skipped"]) == (0, 4) and rows(db) == after


def test_benchmark_model_binary_that_cannot_run_on_the_device_is_one_line(device, out, tmp_path):
    serial, _ = device
    bad = tmp_path / "benchmark_model"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 100)     # not an armv7 executable
    r = bench(out / "variants" / "int8", "--device", serial, "--runner", "benchmark_model", "--benchmark-binary", bad,
              "--runs", 2, "--threads", 1, "--out", tmp_path / "o")
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert r.returncode == 2 and len(err) == 1 and "does not run on" in err[0] and serial in err[0], r.stderr


def test_python_api_returns_measurements_and_reports_to_listeners(device, out, tmp_path):
    """ek.bench on Variant objects, in this process: the listeners see the sweep in order, the
    store holds what is returned, and resume measures nothing twice."""
    import edgekit as ek
    from edgekit.bench.listeners import Listener
    from edgekit.bench.store import Store

    serial, _ = device

    class Events(Listener):
        def __init__(self):
            self.seen = []

        def on_sweep_start(self, plan):
            self.seen.append(("start", plan.total_todo, plan.skipped))

        def on_measurement_start(self, dev, job):
            self.seen.append(("begin", job.target.name, job.threads))

        def on_measurement(self, dev, m):
            self.seen.append(("done", m.variant, m.threads, m.status))

        def on_sweep_end(self, result):
            self.seen.append(("end", result.measured, result.skipped))

    variants = [v for v in ek.load_variants(out / "variants") if v.name in ("dynamic", "int8")]
    params = ek.BenchParams(runs=3, warmup=0, threads="1,2", count=False)
    ev = Events()
    ms = ek.bench(variants, device=serial, params=params, out=tmp_path, listeners=[ev])
    assert [(m.variant, m.threads, m.status) for m in ms] == [
        ("dynamic", 1, "incompatible"), ("dynamic", 2, "incompatible"), ("int8", 1, "ok"), ("int8", 2, "ok")]
    assert any("not re-run" in w for w in ms[1].warnings)          # derived from the first thread count
    assert ms[2].stats.runs == 3 and ms[2].stats.p99 is not None and ms[2].device["profile"] == "armv7-lowend"
    assert ev.seen[0] == ("start", 4, 0) and ev.seen[-1] == ("end", 4, 0)
    assert ev.seen[1:-1] == [e for m in ms for e in (("begin", m.variant, m.threads), ("done", m.variant, m.threads, m.status))]
    with Store(tmp_path) as st:
        assert st.all() == ms
    ev2 = Events()
    again = ek.bench(variants, device=serial, params=params, out=tmp_path, resume=True, listeners=[ev2])
    assert again == ms and ev2.seen == [("start", 0, 4), ("end", 0, 4)]


def test_adb_layer_on_the_emulated_device(device, tmp_path):
    """edgekit.adb: states, describe, getprop, shell exit codes and stderr, push/pull, disconnect and
    connect (adb itself exits 0 on a failed connect: the layer reads its text)."""
    from edgekit import adb
    from edgekit.errors import EdgekitError

    serial, _ = device
    assert adb.states()[serial] == "device"
    dev = adb.device(serial)
    desc = dev.describe()
    assert (desc["abi"], desc["sdk"], desc["cores"], desc["ram_mb"], desc["machine"]) == ("armeabi-v7a", "27", 4, 1024, "armv7l")
    assert dev.getprop("ro.product.model") == desc["model"] == "edgekit armv7-lowend"
    assert dev.getprop("edgekit.no.such.prop") is None
    r = dev.shell(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    src = tmp_path / "a b;c.bin"
    src.write_bytes(bytes(range(256)) * 300)
    dev.push(src, "/data/local/tmp/edgekit-adb-test.bin")
    assert dev.push_if_changed(src, "/data/local/tmp/edgekit-adb-test.bin") is False     # same size: kept
    dev.pull("/data/local/tmp/edgekit-adb-test.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    rows = {d.serial: d for d in adb.list_devices()}
    assert rows[serial].state == "device" and rows[serial].description["model"] == "edgekit armv7-lowend"
    adb.disconnect(serial)
    assert serial not in adb.states()
    with pytest.raises(adb.DeviceLost):
        adb.device(serial).ensure_online(reconnect=False)
    adb.connect(serial)
    assert adb.states()[serial] == "device"
    adb.disconnect("127.0.0.1:1")                                    # never raises
    with pytest.raises(EdgekitError, match="adb connect 127.0.0.1:1 failed"):
        adb.connect("127.0.0.1:1", timeout=1)


def test_devices_command_lists_the_emulated_device_with_its_profile(device):
    serial, _ = device
    r = subprocess.run([sys.executable, "-m", "edgekit.cli", "devices", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    row = {d["serial"]: d for d in json.loads(r.stdout)["devices"]}[serial]
    assert (row["state"], row["abi"], row["profile"], row["ram_mb"]) == ("device", "armeabi-v7a", "armv7-lowend", 1024)
    r = subprocess.run([sys.executable, "-m", "edgekit.cli", "devices"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and serial in r.stdout and "1024.0 MiB" in r.stdout and "armv7-lowend" in r.stdout


def _overlap(a, b) -> bool:
    from datetime import datetime

    s1, e1, s2, e2 = (datetime.fromisoformat(x) for x in (a["started"], a["finished"], b["started"], b["finished"]))
    return s1 < e2 and s2 < e1


def test_jobs_two_measures_side_by_side_one_core_per_thread(device, out, tmp_path):
    """--jobs 2 on the emulated device: 1-thread measurements run two at a time, a 2-thread one alone;
    every result is what it is alone (int8 bit-exact with the host on the device's evaluation)."""
    serial, port = device
    r = bench(out / "variants", "--device", serial, "--runs", 5, "--warmup", 1, "--threads", "1,2", "--jobs", 2,
              "--accuracy", "device", "--eval-data", out / "evalset", "--out", tmp_path, "--json")
    assert r.returncode == 0, r.stderr + daemon_log(port)
    ms = json.loads(r.stdout)["measurements"]
    assert len(ms) == 8 and all(m["detail"].get("jobs") == 2 for m in ms if m["status"] != "incompatible" or m["detail"])
    by = {(m["variant"], m["threads"]): m for m in ms}
    for name in ("float", "int8", WEIRD):
        assert by[(name, 1)]["status"] == by[(name, 2)]["status"] == "ok"
        assert by[(name, 1)]["detail"]["measured_alone"] is False and by[(name, 2)]["detail"]["measured_alone"] is True
    for name in ("int8", WEIRD):
        assert by[(name, 1)]["detail"]["accuracy"]["agreement_with_host"] == 1.0
    assert by[("dynamic", 1)]["status"] == "incompatible"
    ran = [m for m in ms if m["status"] == "ok"]
    ones = [m for m in ran if m["threads"] == 1]
    assert any(_overlap(a, b) for i, a in enumerate(ones) for b in ones[i + 1:]), "no two 1-thread runs overlapped"
    for two in (m for m in ran if m["threads"] == 2):
        assert not any(_overlap(two, m) for m in ran if m is not two)


def test_jobs_out_of_memory_beside_another_is_measured_again_alone(adb_server, out, tmp_path):
    """A device whose memory cap fits one runner but not two (80 MB: each runner's peak is ~69 MB VmHWM,
    shared pages counted once by the cap): the measurement the cap killed while another shared the
    device is measured again alone, and nothing is lost."""
    from edgekit import emulator

    prof = variant_profile(tmp_path, "armv7-small", {"memory_mb = 1024": "memory_mb = 80"})
    port = free_port()
    serial = emulator.start(str(prof), port=port, private=True).serial
    try:
        names = [out / "variants" / "int8", out / "variants" / "float", out / "variants" / WEIRD]
        r = bench(*names, "--device", serial, "--runs", 300, "--warmup", 1, "--threads", 1, "--jobs", 2,
                  "--out", tmp_path / "o", "--json")
        assert r.returncode == 0, r.stderr + daemon_log(port)
        ms = json.loads(r.stdout)["measurements"]
        assert len(ms) == 3 and all(m["status"] == "ok" for m in ms), [m["reason"] for m in ms]
        again = [m for m in ms if any(w.startswith("measured again alone: out of memory") for w in m["warnings"])]
        assert again and all(m["detail"]["measured_alone"] is True for m in again), \
            [(m["peak_memory_mb"], m["started"], m["finished"]) for m in ms]
    finally:
        emulator.stop(port)


def test_emulator_daemon_killed_after_3_of_12_then_resume_measures_the_9_missing_on_the_same_device(adb_server, tmp_path):
    """Issue 12's scenario: `bench OUT --emulator PROFILE`, the daemon killed after 3 of 12 measurements
    (exit 3); the re-run restarts the device on its own port, measures only the missing ones, the
    store holds 12 under one device identity, and `edgekit report OUT` needs no --device."""
    from edgekit import emulator

    prof = variant_profile(tmp_path, "armv7-killtest")
    d = tiny_models()
    out = tmp_path / "OUT"
    for i in range(12):
        make_variant(out / "variants", f"v{i:02d}", d / ("int8.tflite" if i % 2 else "float.tflite"))
    db = out / "bench.sqlite"
    args = [out, "--emulator", prof, "--runs", 400, "--warmup", 1, "--threads", 1]
    p = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args), "--no-count"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and stored(db) < 3:
            time.sleep(0.1)
        assert p.poll() is None, p.communicate()
        inst = next(i for i in emulator.instances() if i.profile == "armv7-killtest")
        serial = inst.serial
        os.kill(inst.pid, 9)                       # the emulator daemon dies mid-sweep
        stdout, stderr = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    try:
        assert p.returncode == 3, (stdout, stderr)
        assert "--resume" in stderr
        before = rows(db)
        assert 3 <= len(before) < 12
        r = bench(*args, "--resume", "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["skipped"] == len(before) and res["measured"] == 12 - len(before)
        after = rows(db)
        assert len(after) == 12 and len({k for k, *_ in after}) == 12 and after[: len(before)] == before
        ms = res["measurements"]
        assert {m["device_id"] for m in ms} == {"emulator:armv7-killtest"}
        assert {m["device_serial"] for m in ms} == {serial}            # restarted on its own port
        listed = subprocess.run(["adb", "devices"], capture_output=True, text=True, timeout=60).stdout
        assert f"{serial}\toffline" not in listed and f"{serial}\tdevice" in listed
        rep = subprocess.run([sys.executable, "-m", "edgekit.cli", "report", str(out), "--json"],
                             capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert rep.returncode == 0, rep.stderr
    finally:
        for i in emulator.instances():
            if i.profile == "armv7-killtest":
                emulator.stop(i.port)


def test_runner_killed_by_the_memory_cap_is_oom_with_the_cap_and_the_last_peak_seen(adb_server, tmp_path):
    from edgekit import emulator

    prof = variant_profile(tmp_path, "armv7-tiny-ram", {"memory_mb = 1024": "memory_mb = 80"})
    port = free_port()
    serial = emulator.start(str(prof), port=port, private=True).serial
    try:
        d = tiny_models()
        r = bench(d / "hungry.tflite", d / "int8.tflite", "--device", serial, "--runs", 2, "--warmup", 0,
                  "--threads", 1, "--out", tmp_path / "o", "--json")
        assert r.returncode == 0, r.stderr + daemon_log(port)
        ms = {m["variant"]: m for m in json.loads(r.stdout)["measurements"]}
        hungry = ms["hungry"]
        assert hungry["status"] == "oom", hungry
        assert re.fullmatch(r"out of memory: killed by the 80 MB memory cap of armv7-tiny-ram; "
                            r"last peak seen \d+ MiB \((baseline|after init|after runs)\)", hungry["reason"]), hungry["reason"]
        assert ms["int8"]["status"] == "ok"                               # the sweep went on
        r = bench(d / "hungry.tflite", d / "int8.tflite", "--device", serial, "--runs", 2, "--warmup", 0,
                  "--threads", 1, "--out", tmp_path / "o", "--resume", "--json")
        res = json.loads(r.stdout)
        assert res["skipped"] == 1 and res["measured"] == 1               # oom is not done: measured again
    finally:
        emulator.stop(port)


@pytest.mark.parametrize("sig, code, word", [(15, 143, "terminated (SIGTERM)"),
                                             pytest.param(2, 130, "interrupted", marks=pytest.mark.heavy)])
def test_sigterm_or_ctrl_c_mid_sweep_is_one_line_and_resume_measures_the_rest_once(device, out, tmp_path, sig, code, word):
    import signal as signals

    serial, port = device
    names = [out / "variants" / n for n in ("float", "int8")]
    args = [*names, "--device", serial, "--runs", 3000, "--warmup", 0, "--threads", "1,2", "--out", tmp_path, "--no-count"]
    db = tmp_path / "bench.sqlite"
    p = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "bench", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and stored(db) < 1:
            time.sleep(0.1)
        assert p.poll() is None, p.communicate()
        p.send_signal(signals.Signals(sig))
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, (stdout, stderr)
    errors = [ln for ln in stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(errors) == 1 and word in errors[0] and "--resume" in errors[0], stderr
    assert "Traceback" not in stderr
    before = rows(db)
    assert 1 <= len(before) < 4 and all(st == "ok" for *_, st, _ in before)   # nothing half-measured stored
    r = bench(*args[:-1], "--resume", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["skipped"] == len(before) and res["measured"] == 4 - len(before)
    assert len(rows(db)) == 4


def test_full_disk_while_writing_bench_sqlite_is_one_line_and_keeps_what_was_stored(device, out, tmp_path):
    """OUT on a tiny tmpfs that fills up during the sweep: one line, exit 2, the measurements stored
    before it stay readable, and after freeing space --resume measures only the rest."""
    serial, port = device
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        names = [out / "variants" / n for n in ("float", "int8", WEIRD)]
        args = [*names, "--device", serial, "--runs", 100, "--warmup", 0, "--threads", "1,2", "--out", mnt]
        ballast = mnt / "ballast"
        r = None
        for room_kb in (160, 120, 90, 70, 50, 40):   # less room each time, until the store fills up mid-sweep
            for f in mnt.iterdir():
                f.unlink()
            ballast.write_bytes(b"\0" * (1024 - room_kb) * 1024)
            r = bench(*args)
            if r.returncode != 0 and stored(mnt / "bench.sqlite"):
                break
        assert r is not None and r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
        assert len(lines) == 1 and "no space left on device writing" in lines[0] and "--resume" in lines[0], r.stderr
        assert "fix the device" not in lines[0]
        assert "Traceback" not in r.stderr
        kept = stored(mnt / "bench.sqlite")
        ballast.unlink()                                                   # free the space, continue
        again = bench(*args, "--resume", "--json")
        assert again.returncode == 0, again.stderr
        res = json.loads(again.stdout)
        assert res["skipped"] == kept and res["skipped"] + res["measured"] == 6
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)   # lazy: never leave it mounted
