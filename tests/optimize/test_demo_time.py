"""benchmarks/demo_time.py reads what make demo, scripts/setup.sh and edgekit optimize record (synthetic files)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from conftest import ROOT


def _demo_time():
    spec = importlib.util.spec_from_file_location("demo_time", ROOT / "benchmarks" / "demo_time.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_run(out):
    (out / "variants" / "float32").mkdir(parents=True)
    (out / "variants" / "float32" / "eval.json").write_text(json.dumps({"accuracy": 0.9013}))
    (out / "demo-stages.tsv").write_text("setup\t100.0\t280.5\t0\noptimize\t280.5\t700.5\t0\n"
                                         "bench\t700.5\t850.0\t0\nreport\t850.0\t854.0\t0\n")
    (out / "setup-timings.tsv").write_text("apt\t1.0\nvenv + edgekit[bench]\t40.0\npip edgekit[all,test]\t120.0\n"
                                           "device image (in the background)\t110.0\n")
    (out / "optimize-timings.json").write_text(json.dumps({
        "total": 410.0, "stages": {"data": 1.5, "model": 3.0, "checks": 4.0}, "teacher": 90.0,
        "variants": {"float32": {"train": 0.0, "convert": 3.0, "check": 1.0, "evaluate": 9.0},
                     "int8": {}},
        "skipped": ["int8"]}))


def _write_bench(out):
    """A real bench store (edgekit.bench.store) with two measurements of one variant."""
    from edgekit.bench.store import Store
    from edgekit.measurement import Measurement

    with Store(out / "bench.sqlite") as store:
        for threads, wall in ((1, 12_000.0), (2, 8_000.0)):
            store.add(Measurement(variant="float32", sha256="0" * 64, device_serial="emu", device={}, config={},
                                  threads=threads,
                                  runner="python", status="ok", wall_ms=wall,
                                  started="2026-12-02T00:00:00Z", finished="2026-12-02T00:00:20Z"))


def test_rows_come_from_the_recorded_files(tmp_path):
    dt = _demo_time()
    out = tmp_path / "demo"
    _write_run(out)
    _write_bench(out)
    assert dt.bench_seconds(out) == {"float32": 20.0}
    stages = dt.stage_seconds(out)
    assert stages == {"setup": (180.5, 0), "optimize": (420.0, 0), "bench": (149.5, 0), "report": (4.0, 0)}
    rows = {(stage, step): (secs, note) for stage, step, secs, note in dt.rows(out)}
    assert rows[("setup", "(stage wall time)")][0] == 180.5
    assert rows[("setup", "device image (in the background)")] == (110.0, "overlaps the pip step")
    assert rows[("optimize", "start-up (Python, imports)")][0] == 10.0        # stage wall time minus the run's own total
    assert rows[("optimize", "teacher training")][0] == 90.0
    assert rows[("optimize", "float32: host evaluation")] == (9.0, "worker thread")
    assert rows[("optimize", "int8")] == (0.0, "unchanged, skipped")
    assert ("bench", "(stage wall time)") in rows and ("report", "(stage wall time)") in rows
    assert rows[("bench", "float32")] == (20.0, "runner wall time")


def test_the_script_prints_the_table_and_an_accuracy_comparison(tmp_path):
    out, other = tmp_path / "demo", tmp_path / "old"
    _write_run(out)
    (other / "variants" / "float32").mkdir(parents=True)
    (other / "variants" / "float32" / "eval.json").write_text(json.dumps({"accuracy": 0.8991}))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "demo_time.py"), "--out", str(out),
                           "--compare", str(other)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "teacher training" in proc.stdout and "12.6 min" in proc.stdout   # 754 s in all
    assert "venv + edgekit[bench]" in proc.stdout   # step names are text, not rich markup
    assert "+0.22" in proc.stdout and "90.13%" in proc.stdout and "89.91%" in proc.stdout
