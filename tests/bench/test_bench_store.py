"""edgekit.bench.store: the agreed Store API, keys, exactly-once storage, concurrency, resume planning."""

import sqlite3
import threading

import pytest

from edgekit.bench.runner import BenchConfig, Target
from edgekit.bench.store import Store, key_for, measurement_key
from edgekit.bench.sweep import plan
from edgekit.bench.device import Device
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


def test_resume_plan_skips_done_keys(tmp_path):
    cfg = BenchConfig(runs=5, warmup=1)
    targets = [Target("a", tmp_path / "a.tflite", "a" * 64, 10), Target("b", tmp_path / "b.tflite", "b" * 64, 10)]
    dev = Device("emu-1")
    jobs = plan(targets, dev, [1, 2], cfg)
    assert len({j.key for j in jobs}) == 4
    assert jobs[0].key == key_for("a" * 64, "emu-1", "python", 1, cfg.measurement_config(), "a")


def test_not_a_database(tmp_path):
    p = tmp_path / "bench.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EdgekitError):
        Store(p).all()
