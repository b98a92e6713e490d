"""The README's Python script (ek.optimize -> ek.report) runs as written, on a tiny model and data set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPE = """\
[[variant]]
name = "float32"
chain = []

[[variant]]
name = "int8"
chain = ["ptq-int8(calibration=64)"]

[[variant]]
name = "dynamic"
chain = ["ptq-dynamic"]
"""


def readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ```python block after <!-- api-example -->"
    return m.group(1)


@pytest.mark.slow
def test_readme_script_runs(tiny_model, small_npz, tmp_path):
    shutil.copy(tiny_model, tmp_path / "model.h5")
    shutil.copy(small_npz, tmp_path / "data.npz")
    (tmp_path / "recipe.toml").write_text(RECIPE)
    script = tmp_path / "script.py"
    script.write_text(readme_script())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    # one line per variant, in recipe order, with its status
    assert [ln.split()[0] for ln in lines[:3]] == ["float32", "int8", "dynamic"], proc.stdout
    assert all(" ok " in f" {ln} " for ln in lines[:3]), proc.stdout
    front = next(ln for ln in lines if ln.startswith("front: "))[len("front: "):].split(", ")
    assert front and set(front) <= {"float32", "int8", "dynamic"}, proc.stdout
    # the tiny model (one epoch on 800 images) is far from 85%: the report names the closest variant
    assert any(ln.startswith("recommended: nothing fits; closest is ") for ln in lines), proc.stdout
    assert (tmp_path / "out" / "variants" / "int8" / "model.tflite").is_file()


def test_the_facade_is_light_and_typed():
    """`import edgekit` loads no TensorFlow, adbutils or tflite-runtime; the stage names are callable."""
    code = ("import sys, edgekit as ek\n"
            "assert callable(ek.optimize) and callable(ek.bench) and callable(ek.report) and callable(ek.gate)\n"
            "import edgekit.report.api, edgekit.optimize.data\n"
            "assert callable(ek.report) and callable(ek.optimize)\n"
            "heavy = [m for m in ('tensorflow', 'tf_keras', 'adbutils', 'tflite_runtime') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "print(ek.__version__, sorted(n for n in dir(ek) if not n.startswith('_'))[:3])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
