"""edgekit.bench.store: the agreed Store API, keys, exactly-once storage, concurrency, resume planning."""

import sqlite3
import threading

import pytest

import json

from edgekit.bench.params import BenchParams
from edgekit.bench.store import Store, config_hash, key_for, measurement_key
from edgekit.bench.sweep import plan
from edgekit.bench.targets import Target
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement


def _m(variant="v", sha="a" * 64, serial="s1", threads=1, status="ok", runs=5, lat=None):
    return Measurement(variant=variant, sha256=sha, device_serial=serial, device={"abi": "armeabi-v7a"},
                       runner="python", threads=threads, config={"runs": runs, "warmup": 1}, status=status,
                       latencies_ms=lat or [1.0, 2.0], stats={"p50": 1.5}, size_bytes=123, detail={"memory": {"peak": {"vmhwm_mb": 3.0}}})


def test_add_all_roundtrip_and_wal(tmp_path):
    st = Store(tmp_path / "bench.sqlite")
    st.add(_m())
    st.add(_m(threads=2))
    got = st.all()
    assert [m.threads for m in got] == [1, 2]
    assert got[0] == _m()                         # every field survives, including the added ones
    mode = sqlite3.connect(tmp_path / "bench.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    # committed immediately: a second connection sees it without close()
    assert len(Store(tmp_path / "bench.sqlite").all()) == 2
    assert Store(tmp_path).path.name == "bench.sqlite"    # a directory means DIR/bench.sqlite


def test_same_key_is_stored_once(tmp_path):
    st = Store(tmp_path / "b.sqlite")
    st.add(_m(status="failed"))
    st.add(_m(status="ok", lat=[9.0]))
    assert st.count() == 1
    assert st.all()[0].latencies_ms == [9.0]
    assert st.done_keys() == {measurement_key(_m())}
    # config and serial and threads and sha are all part of the key
    for other in (_m(runs=6), _m(serial="s2"), _m(threads=4), _m(sha="b" * 64), _m(variant="w")):
        assert measurement_key(other) != measurement_key(_m())


def test_failed_is_not_done(tmp_path):
    st = Store(tmp_path / "b.sqlite")
    st.add(_m(status="failed"))
    st.add(_m(threads=2, status="incompatible"))
    assert st.done_keys() == {measurement_key(_m(threads=2))}


def test_concurrent_adds_from_threads(tmp_path):
    st = Store(tmp_path / "b.sqlite")

    def worker(serial):
        for t in range(1, 21):
            st.add(_m(serial=serial, threads=t))

    ths = [threading.Thread(target=worker, args=(f"s{i}",)) for i in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert st.count() == 80 and len(st.keys()) == 80


class _Dev:          # planning needs a serial only: no adb involved
    serial = "emu-1"
    info: dict = {}


def test_resume_plan_skips_the_keys_the_store_says_are_done(tmp_path):
    params = BenchParams(runs=5, warmup=1, threads=(1, 2))
    targets = [Target("a", tmp_path / "a.tflite", "a" * 64, 10), Target("b", tmp_path / "b.tflite", "b" * 64, 10)]
    first = plan(targets, [_Dev()], params)
    jobs = first.jobs["emu-1"]
    assert len({j.key for j in jobs}) == 4
    assert jobs[0].key == key_for("a" * 64, "emu-1", "python", 1, params.measurement_config(), "a")
    st = Store(tmp_path / "bench.sqlite")
    for job, status in zip(jobs, ("ok", "incompatible", "failed")):
        st.add(Measurement(job.target.name, job.target.sha256, "emu-1", {}, "python", job.threads,
                           params.measurement_config(), status=status))
    again = plan(targets, [_Dev()], params, done=st.done_keys())
    assert [(j.target.name, j.threads) for j in again.todo["emu-1"]] == [("b", 1), ("b", 2)]   # failed: again
    assert again.skipped == 2 and again.total_todo == 2


def test_rows_written_before_the_one_key_set_still_load(tmp_path):
    """A benchmark_model row of an earlier edgekit (stats with p5/median-as-p50/p95, no p90/p99, +00:00
    times) loads: runs from its count, p90/p99/CI unavailable by name, p5/p95 kept in detail."""
    db = tmp_path / "bench.sqlite"
    Store(db).close()
    old = {"variant": "int8", "sha256": "c" * 64, "device_serial": "emu", "device": {"abi": "armeabi-v7a"},
           "runner": "benchmark_model", "threads": 1, "config": {"runs": 50, "warmup": 5, "accuracy": "host", "seed": 0,
           "use_xnnpack": False, "report_peak_memory_footprint": True}, "status": "ok", "reason": None,
           "latencies_ms": [], "stats": {"n": 50, "mean": 2.5, "std": 0.1, "min": 2.2, "max": 3.0, "p5": 2.3,
           "p50": 2.45, "p95": 2.8, "cv": 0.04}, "started": "2026-11-01T10:00:00+00:00", "detail": {"format": "current"}}
    key = key_for(old["sha256"], "emu", "benchmark_model", 1, old["config"], "int8")
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO measurements (key, variant, sha256, device_serial, runner, threads, config_hash, status,"
                  " started, finished, edgekit_version, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  (key, "int8", old["sha256"], "emu", "benchmark_model", 1, config_hash(old["config"]), "ok",
                   old["started"], None, "0.1.0", json.dumps(old)))
    (m,) = Store(db).all()
    assert m.stats.runs == 50 and m.stats.p50 == 2.45 and m.stats.p90 is None
    assert m.stats.why_missing("p90") == "benchmark_model reports p5/p50/p95, not p90"
    assert "confidence interval" in m.stats.why_missing("ci95_low")
    assert m.detail["percentiles_ms"] == {"p5": 2.3, "p95": 2.8} and m.detail["format"] == "current"
    assert Store(db).done_keys() == {key}            # --resume recognises it


def test_config_hash_is_stable_across_versions():
    """Keys of earlier stores stay valid: the hash of a fixed config is pinned."""
    conf = {"runs": 50, "warmup": 5, "accuracy": "host", "seed": 0}
    assert config_hash(conf) == config_hash(dict(reversed(list(conf.items()))))
    assert config_hash(conf) == "%s" % __import__("hashlib").sha256(
        b'{"accuracy":"host","runs":50,"seed":0,"warmup":5}').hexdigest()[:16]
    assert BenchParams().measurement_config() == conf


def test_not_a_database(tmp_path):
    p = tmp_path / "bench.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EdgekitError):
        Store(p).all()
