"""Report and gate read results from a read-only folder (a CI artifact): nothing is written there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import run_edgekit
from edgekit.bench.store import Store
from edgekit.report.synthetic import measurement, write_variant


@pytest.fixture
def readonly_out(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("this test needs root and mount (a read-only bind mount; root ignores file modes)")
    src = tmp_path / "src"
    write_variant(src, "float32", 800_000, 0.91, chain=[])
    write_variant(src, "int8", 210_000, 0.905, chain=[{"pass": "ptq-int8", "params": {}}], baseline="float32")
    with Store(src / "bench.sqlite") as store:
        store.add(measurement("float32", 60.0))
        store.add(measurement("int8", 12.0))
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        before = sorted(p.name for p in src.iterdir())
        yield ro, src, before
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_report_and_gate_on_a_read_only_results_folder(readonly_out, tmp_path):
    ro, src, before = readonly_out
    with pytest.raises(OSError):
        (ro / "probe").write_text("x")  # really read-only
    rep = run_edgekit("report", str(ro), "--json", check=True)
    data = json.loads(rep.stdout)
    assert {v["name"] for v in data["variants"]} == {"float32", "int8"}
    assert data["axes"][-1]["metric"] == "latency"  # the measurements were read from bench.sqlite
    cfg = tmp_path / "edgekit.toml"
    cfg.write_text('[budgets]\n[[budgets.rule]]\nvariants = "int8"\nmax_size = "300 kB"\nmax_latency = "20 ms"\n')
    gate = run_edgekit("gate", str(ro), "--config", str(cfg), "--json")
    assert gate.returncode == 0, gate.stderr
    assert json.loads(gate.stdout)["counts"] == {"checks": 2, "passed": 2, "failed": 0, "skipped": 0}
    assert sorted(p.name for p in src.iterdir()) == before  # no -shm / -wal / temp file left behind
