"""Sweep planning, derived records and the listener protocol on synthetic inputs (no adb: planning
and the listeners are pure; everything that talks to a device is tested on the emulated device)."""

import io
import json
import re
from pathlib import Path

import pytest

from edgekit.bench.api import bench
from edgekit.bench.evalset import EvalSet
from edgekit.bench.listeners import BenchListener, Broadcast, JsonListener, Listener
from edgekit.bench.params import BenchParams
from edgekit.bench.runner import base_measurement
from edgekit.bench.store import Store, measurement_key
from edgekit.bench.sweep import SweepResult, derived_incompatible, plan
from edgekit.bench.targets import Target, resolve_targets
from edgekit.bench.ui import ProgressListener, SummaryListener, measurement_line
from edgekit.errors import EdgekitError
from edgekit.measurement import LatencyStats, Measurement


class Dev:
    """A synthetic device: planning and records read only its serial and description."""

    def __init__(self, serial, abi="armeabi-v7a"):
        self.serial = serial
        self.info = {"serial": serial, "abi": abi}


A = Target("a", Path("a.tflite"), "a" * 64, 1000)
B = Target("b", Path("b.tflite"), "b" * 64, 2000)


def test_jobs_are_targets_by_threads_per_device_with_unique_keys():
    p = plan([A, B], [Dev("s1"), Dev("s2")], BenchParams(threads="1,4"))
    assert [(j.target.name, j.threads) for j in p.jobs["s1"]] == [("a", 1), ("a", 4), ("b", 1), ("b", 4)]
    keys = p.keys()
    assert len(keys) == 8 and len(set(keys)) == 8
    assert all(k.split("|")[1] == "s1" for k in (j.key for j in p.jobs["s1"]))
    assert p.total_todo == 8 and p.skipped == 0


def test_key_changes_with_what_is_measured_not_with_how_it_is_shown():
    k = plan([A], [Dev("s")], BenchParams(threads=1)).keys()
    assert plan([A], [Dev("s")], BenchParams(threads=1, cooldown=5, noisy_cv=0.5, timeout=10)).keys() == k
    assert plan([A], [Dev("s")], BenchParams(threads=1, runs=7)).keys() != k
    assert plan([A], [Dev("s")], BenchParams(threads=1, seed=1)).keys() != k
    assert plan([A], [Dev("s")], BenchParams(threads=1, metric="instructions")).keys() != k
    ev = EvalSet(Path("x.npy"), [0, 1], "e" * 64, 2)
    a = plan([A], [Dev("s")], BenchParams(threads=1, accuracy="device"), ev).keys()
    b = plan([A], [Dev("s")], BenchParams(threads=1, accuracy="device"), EvalSet(Path("x.npy"), [0], "f" * 64, 1)).keys()
    assert a != b and a != k


def test_resume_skips_done_keys_per_device():
    p0 = plan([A, B], [Dev("s1"), Dev("s2")], BenchParams(threads="1,2"))
    done = {p0.jobs["s1"][0].key, p0.jobs["s1"][3].key, p0.jobs["s2"][1].key, "unrelated|key"}
    p = plan([A, B], [Dev("s1"), Dev("s2")], BenchParams(threads="1,2"), done=done)
    assert [(j.target.name, j.threads) for j in p.todo["s1"]] == [("a", 2), ("b", 1)]
    assert [(j.target.name, j.threads) for j in p.todo["s2"]] == [("a", 1), ("b", 1), ("b", 2)]
    assert p.skipped == 3 and p.total_todo == 5 and len(p.keys()) == 8


def test_derived_incompatible_is_stored_under_its_job_key():
    params = BenchParams(threads="1,2")
    dev = Dev("s1")
    job = plan([A], [dev], params).jobs["s1"][1]
    m = derived_incompatible(A, dev, job.threads, params, None, "Didn't find op for builtin opcode 'X' version '9'")
    assert m.status == "incompatible" and m.reason.startswith("Didn't find op") and m.threads == 2
    assert measurement_key(m) == job.key                 # --resume skips it like a measured one
    assert any("not re-run" in w for w in m.warnings)
    assert m.size_bytes == 1000 and m.started and m.finished and m.latencies_ms == []


def test_base_measurement_warns_for_a_non_arm_device():
    m = base_measurement(A, Dev("x", abi="x86_64"), 1, BenchParams())
    assert m.warnings == ["abi: device ABI x86_64 is not armeabi-v7a (measured with --allow-abi)"]
    assert base_measurement(A, Dev("y"), 1, BenchParams()).warnings == []


def test_targets_from_files_and_duplicates(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"TFL3" * 10)
    targets, out = resolve_targets([f, str(f)])
    assert [t.name for t in targets] == ["m"] and targets[0].size_bytes == 40 and out == Path("out")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(EdgekitError, match="is not a .tflite file"):
        resolve_targets([tmp_path / "notes.txt"])
    with pytest.raises(EdgekitError, match="nothing to benchmark"):
        resolve_targets([])


def test_api_refuses_bad_arguments_before_touching_a_device(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"TFL3")
    with pytest.raises(EdgekitError, match="either --device or --emulator"):
        bench(f, device="s1", emulator=True)
    with pytest.raises(EdgekitError, match="params must be edgekit.BenchParams"):
        bench(f, params={"runs": 3})
    with pytest.raises(EdgekitError, match="no benchmark_model binary"):
        bench(f, device="s1", params=BenchParams(runner="benchmark_model", benchmark_binary=tmp_path / "none"))
    assert not (tmp_path / "bench.sqlite").exists()


# -- listeners ------------------------------------------------------------------------------------

def _m(name="a", threads=1, status="ok", p50=1.5, reason=None):
    return Measurement(name, "a" * 64, "s1", {}, "python", threads, {}, status=status, reason=reason,
                       stats=LatencyStats(n=5, p50=p50) if status == "ok" else LatencyStats())


class Recorder(Listener):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_measurement(self, device, measurement):
        self.log.append((self.name, measurement.variant))


def test_every_implementation_satisfies_the_protocol(tmp_path):
    with Store(tmp_path / "b.sqlite") as st:
        for lst in (st, ProgressListener(io.StringIO()), SummaryListener(), JsonListener(io.StringIO()), Listener()):
            assert isinstance(lst, BenchListener)


def test_broadcast_calls_in_order_and_refuses_a_non_listener():
    log = []
    b = Broadcast([Recorder("store", log), Recorder("progress", log)])
    b.on_measurement(Dev("s1"), _m("x"))
    b.on_retry(Dev("s1"), RuntimeError("dropped"))          # not overridden: ignored
    assert log == [("store", "x"), ("progress", "x")]

    class Half:
        def on_measurement(self, device, m):
            pass

    with pytest.raises(TypeError, match="on_sweep_start"):
        Broadcast([Half()])


def test_json_listener_prints_the_payload_once_and_nothing_after_ctrl_c(tmp_path):
    out = io.StringIO()
    res = SweepResult(measurements=[_m()], measured=1, skipped=2, errors={"s2": "gone"}, db=tmp_path / "b.sqlite")
    JsonListener(out).on_sweep_end(res)
    data = json.loads(out.getvalue())
    assert data["db"] == str(tmp_path / "b.sqlite") and (data["measured"], data["skipped"]) == (1, 2)
    assert data["errors"] == {"s2": "gone"} and data["measurements"][0]["stats"]["p50"] == 1.5
    late = io.StringIO()
    JsonListener(late).on_sweep_end(SweepResult(interrupted=True))
    assert late.getvalue() == ""


def test_progress_without_a_terminal_is_one_line_per_measurement_with_elapsed_and_eta():
    err = io.StringIO()
    p = plan([A, B], [Dev("s1"), Dev("s2")], BenchParams(threads="1,2"))
    lst = ProgressListener(err)          # a StringIO is no terminal: plain lines
    lst.on_sweep_start(p)
    s1, s2 = Dev("s1"), Dev("s2")
    lst.on_measurement_start(s1, p.jobs["s1"][0])          # status lines are for terminals only
    lst.on_measurement(s1, _m("a", 1))
    lst.on_measurement(s1, _m("a", 2, status="incompatible", reason="Didn't find op\nsecond line"))
    lst.on_device_stopped(s2, EdgekitError("device s2 disconnected"), True)
    lst.on_measurement(s1, _m("b", 1))
    lst.on_sweep_end(SweepResult())
    lines = err.getvalue().splitlines()
    done = [ln for ln in lines if re.match(r"^\[bench \d+/\d+ ", ln)]
    assert len(done) == 3
    assert re.match(r"^\[bench 1/8  \d:\d\d:\d\d elapsed(, ETA \d:\d\d:\d\d)?\] s1: a ×1t ok, p50 1\.50 ms$", done[0]), done[0]
    assert done[1].endswith("s1: a ×2t incompatible: Didn't find op")
    assert done[2].startswith("[bench 3/4 ")            # s2's 4 jobs will not run: the total says so
    assert any(ln.endswith("s2: stopped (lost), 4 measurement(s) not made") for ln in lines)


def test_progress_notes_what_resume_skipped():
    err = io.StringIO()
    p0 = plan([A], [Dev("s1")], BenchParams(threads="1,2"))
    lst = ProgressListener(err)
    lst.on_sweep_start(plan([A], [Dev("s1")], BenchParams(threads="1,2"), done={p0.keys()[0]}))
    lst.on_sweep_end(SweepResult())
    assert "resume: 1 measurement(s) already stored, 1 to go" in err.getvalue()


def test_measurement_line_says_the_median_counts_and_accuracy():
    m = _m("int8", 2, p50=12.345)
    m.accuracy = 0.9
    m.instructions = {"per_invoke": 1234567}
    assert measurement_line(m) == "int8 ×2t ok, p50 12.3 ms, 1,234,567 instr./invoke, accuracy 90.00%"
    assert measurement_line(_m("f", status="failed")) == "f ×1t failed"


def test_lanes_hand_out_jobs_that_fit_the_free_slots_and_let_a_lone_rerun_go_first():
    import threading

    from edgekit.bench.sweep import Lanes

    p = plan([A, B], [Dev("s1")], BenchParams(threads="1,2"))
    lanes = Lanes(2, p.todo["s1"])
    a1 = lanes.take()
    assert (a1.target.name, a1.threads) == ("a", 1) and lanes.shared(a1)
    b1 = lanes.take()                    # a ×2 needs both slots: the next job that fits goes first
    assert (b1.target.name, b1.threads) == ("b", 1)
    got = []
    t = threading.Thread(target=lambda: got.append(lanes.take()))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not got      # no free slot: the third lane waits
    order = []

    def rerun_alone():
        with lanes.alone(lanes.need(a1)):   # a1 gives back its slot and waits for b1's
            order.append("alone")

    r = threading.Thread(target=rerun_alone)
    r.start()
    r.join(0.3)
    assert r.is_alive() and not order
    lanes.release(lanes.need(b1))
    r.join(5)
    assert order == ["alone"]            # before the waiting lane got a new job
    lanes.release(lanes.need(a1))
    t.join(5)
    assert (got[0].target.name, got[0].threads) == ("a", 2) and not lanes.shared(got[0])
    lanes.release(2)
    last = lanes.take()
    assert (last.target.name, last.threads) == ("b", 2)
    lanes.release(2)
    assert lanes.take() is None


def test_measurements_belong_to_the_device_identity_not_its_adb_address():
    from edgekit.bench.device import identity

    usb, wifi = Dev("R58M12ABCDE"), Dev("192.168.1.20:5555")
    usb.info["serialno"] = wifi.info["serialno"] = "R58M12ABCDE"       # the same phone, re-attached over wireless adb
    assert identity(usb) == identity(wifi) == "R58M12ABCDE"
    emu_a, emu_b = Dev("127.0.0.1:5555"), Dev("127.0.0.1:44157")      # an emulator restarted on another port
    for e in (emu_a, emu_b):
        e.info.update(emulated=True, profile="armv7-lowend", serialno="edgekit-armv7-lowend")
    assert identity(emu_a) == identity(emu_b) == "emulator:armv7-lowend"
    assert identity(Dev("0123")) == "0123"                            # a phone that reports no ro.serialno
    p1 = plan([A], [usb], BenchParams(threads=1))
    p2 = plan([A], [wifi], BenchParams(threads=1))
    assert p1.keys() == p2.keys()
    m = base_measurement(A, wifi, 1, BenchParams(threads=1))
    assert m.device_id == "R58M12ABCDE" and m.device_serial == "192.168.1.20:5555"
    assert measurement_key(m) == p1.keys()[0]
