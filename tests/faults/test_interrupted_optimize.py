"""SIGTERM and Ctrl-C during `edgekit optimize`: one line, exit 143/130, only complete variants on disk,
and the same command again finishes the rest without redoing what was finished (docs/faults.md)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, read_json, run_edgekit

pytestmark = pytest.mark.slow

RECIPE = """
[[variant]]
name = "float32"
chain = []
[[variant]]
name = "int8"
chain = ["ptq-int8(32)"]
[[variant]]
name = "pruned"
chain = ["prune(sparsity=0.5, epochs=30)", "ptq-int8(32)"]
[[variant]]
name = "f16"
chain = ["ptq-float16"]
"""


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                             pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.heavy)])
def test_stopped_optimize_leaves_only_complete_variants_and_the_rerun_finishes(tmp_path, tiny_model, small_npz, sig, code, word):
    rec = tmp_path / "r.toml"
    rec.write_text(RECIPE)
    out = tmp_path / "out"
    args = ["optimize", str(tiny_model), "--data", str(small_npz), "--recipe", str(rec), "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "edgekit.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None and not (out / "variants" / "int8" / "eval.json").exists():
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()
        time.sleep(2)   # into the 30-epoch pruning
        p.send_signal(sig)
        _, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in stderr, stderr[-3000:]
    done = {}
    for vdir in (out / "variants").iterdir():
        assert not vdir.name.startswith("."), f"temp folder {vdir.name} left behind"
        m = read_json(vdir / "manifest.json")
        assert m["sha256"] == hashlib.sha256((vdir / "model.tflite").read_bytes()).hexdigest()
        done[vdir.name] = (vdir / "manifest.json").stat().st_mtime_ns
    assert {"float32", "int8"} <= set(done) and "pruned" not in done
    again = run_edgekit(*args, "--json", check=True)
    rows = {r["name"]: r for r in json.loads(again.stdout)["variants"]}
    assert set(rows) == {"float32", "int8", "pruned", "f16"} and all(r["status"] in ("ok", "suspect") for r in rows.values())   # (suspect: the tiny model, near chance)
    for name, mtime in done.items():                 # finished before: not made again
        assert (out / "variants" / name / "manifest.json").stat().st_mtime_ns == mtime
