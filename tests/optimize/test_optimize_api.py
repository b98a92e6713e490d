"""The Python API (`ek.optimize` = edgekit.optimize.run.optimize) and the CLI's progress lines without a terminal.

The API runs in a child Python (TensorFlow never enters the pytest process); the CLI in a child
process whose stderr is a pipe, as in a CI log or `edgekit optimize ... | cat`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import EDGEKIT, ROOT, read_json, run_python

TINY_RECIPE = """
[[variant]]
name = "float32"
chain = []
[[variant]]
name = "int8"
chain = ["ptq-int8(32)"]
[[variant]]
name = "f16"
chain = ["ptq-float16"]
[[variant]]
name = "pruned"
chain = ["prune(sparsity=0.5, epochs=1)", "ptq-int8(32)"]
"""

API_SCRIPT = r"""
import json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tf_keras as keras
import edgekit as ek
from edgekit.optimize.recipe import parse
from edgekit.variant import Variant

out, npz = sys.argv[1], sys.argv[2]
d = np.load(npz)
arrays = (d["x_train"], d["y_train"], d["x_test"], d["y_test"])
keras.utils.set_random_seed(0)
i = keras.layers.Input((28, 28, 1))
h = keras.layers.Conv2D(4, 3, activation="relu")(i)
h = keras.layers.Flatten()(keras.layers.MaxPooling2D()(h))
m = keras.Model(i, keras.layers.Softmax()(keras.layers.Dense(10)(h)), name="mine")
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(arrays[0][..., None] / 255.0, arrays[1], epochs=1, verbose=0)
before = [w.copy() for w in m.get_weights()]
recipe = parse('[[variant]]\nname = "float32"\nchain = []\n[[variant]]\nname = "int8"\nchain = ["ptq-int8(16)"]\n'
               '[[variant]]\nname = "p"\nchain = ["prune(0.5, epochs=1)", "ptq-int8(16)"]\n', "inline recipe")

variants = ek.optimize(m, arrays, recipe=recipe, out=out)          # model and data positional
again = ek.optimize(m, dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)), recipe=recipe, out=out)
report = {
    "types": sorted({type(v).__name__ for v in variants}),
    "names": [v.name for v in variants],
    "status": {v.name: v.status for v in variants},
    "reason": {v.name: v.reason for v in variants},
    "accuracy": {v.name: v.accuracy for v in variants},
    "n": {v.name: v.evaluation.n for v in variants},
    "base": {v.name: v.manifest.base for v in variants},
    "source": variants[0].manifest.source_model,
    "same_keys": [a.manifest.inputs_key == b.manifest.inputs_key for a, b in zip(variants, again)],
    "same_created": [a.manifest.created == b.manifest.created for a, b in zip(variants, again)],
    "weights_untouched": all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())),
    "loaded_equal": [Variant.load(v.dir).manifest.to_dict() == v.manifest.to_dict() for v in variants],
}
errors = {}
for label, call in (
    ("not a model", lambda: ek.optimize(object(), arrays, recipe=recipe, out=out + "-x")),
    ("three arrays", lambda: ek.optimize(m, arrays[:3], recipe=recipe, out=out + "-x")),
    ("bad dict", lambda: ek.optimize(m, {"x_train": arrays[0]}, recipe=recipe, out=out + "-x")),
):
    try:
        call()
        errors[label] = None
    except ek.EdgekitError as exc:
        errors[label] = exc.one_line()
report["errors"] = errors
print(json.dumps(report))
"""


def test_api_takes_an_in_memory_model_and_arrays(tmp_path, small_npz):
    rep = json.loads(run_python(API_SCRIPT, tmp_path / "out", small_npz, timeout=900).strip().splitlines()[-1])
    assert rep["types"] == ["Variant"] and rep["names"] == ["float32", "int8", "p"]
    # "p" (prune + 1 epoch of fine-tuning of a 1-epoch model) moves off float32's predictions: the
    # numerical-fault checks may call it suspect for that (docs/checks.md), never for anything else
    assert rep["status"]["float32"] == rep["status"]["int8"] == "ok" and rep["status"]["p"] in ("ok", "suspect")
    assert rep["status"]["p"] == "ok" or rep["reason"]["p"].startswith("top-1 agreement with the parent")
    assert all(0.0 <= a <= 1.0 for a in rep["accuracy"].values()) and set(rep["n"].values()) == {200}
    assert set(rep["base"].values()) == {"model"} and "in-memory model mine" in rep["source"]
    # the same model and the same arrays (as a dict this time) are recognised: nothing rebuilt
    assert rep["same_keys"] == [True] * 3 and rep["same_created"] == [True] * 3
    assert rep["weights_untouched"], "optimize changed the caller's model"
    assert rep["loaded_equal"] == [True] * 3
    errs = rep["errors"]
    assert "not understood" in errs["not a model"] and "tf-keras model" in errs["not a model"]
    assert "got 3 items, expected 4" in errs["three arrays"]
    assert "is missing y_train, x_test, y_test" in errs["bad dict"]


def test_cli_prints_a_line_per_variant_as_it_finishes(tmp_path, tiny_model, small_npz):
    """No terminal: one plain line per finished step, streamed while the run goes on, in completion order."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(TINY_RECIPE)
    out = tmp_path / "out"
    cmd = [*EDGEKIT, "optimize", str(tiny_model), "--data", str(small_npz), "--recipe", str(recipe), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONUNBUFFERED": "1"})
    seen = []   # (name, what, variant files on disk when the line was read, process still running)
    line_re = re.compile(r"^\[optimize (\d+)/(\d+)  \d+:\d\d:\d\d elapsed(?:, ETA \d+:\d\d:\d\d)?\] ([\w.+-]+): (built|evaluated)")
    try:
        for line in proc.stderr:
            m = line_re.match(line)
            if m:
                name, what = m.group(3), m.group(4)
                vdir = out / "variants" / name
                on_disk = (vdir / "manifest.json").exists() and (what == "built" or (vdir / "eval.json").exists())
                seen.append((int(m.group(1)), int(m.group(2)), name, what, on_disk, proc.poll() is None))
        stdout = proc.stdout.read()
        assert proc.wait(timeout=900) == 0, stdout
    finally:
        if proc.poll() is None:
            proc.kill()
    names = ["float32", "int8", "f16", "pruned"]
    built = [s[2] for s in seen if s[3] == "built"]
    evaluated = [s[2] for s in seen if s[3] == "evaluated"]
    assert built == names and evaluated == names, seen
    assert [s[0] for s in seen] == list(range(1, 9)) and {s[1] for s in seen} == {8}, seen   # counted steps, one total
    assert all(s[4] for s in seen), f"a line came before its variant was on disk: {seen}"
    assert all(s[5] for s in seen[:-1]), f"lines were not streamed while the run went on: {seen}"
    # each variant's evaluation is reported after it was built, the baseline's first
    for name in names:
        assert seen.index(next(s for s in seen if s[2] == name and s[3] == "built")) < \
               seen.index(next(s for s in seen if s[2] == name and s[3] == "evaluated"))
    assert evaluated[0] == "float32"
    timings = read_json(out / "optimize-timings.json")
    assert set(timings["variants"]) == set(names) and timings["skipped"] == []
    assert all({"check", "evaluate", "convert", "train"} <= set(t) for t in timings["variants"].values())
    manifest = read_json(out / "variants" / "pruned" / "manifest.json")
    assert manifest["timings"]["train"] > 0 and manifest["timings"]["check"] > 0
    assert read_json(out / "variants" / "pruned" / "eval.json")["seconds"] > 0
    # a re-run: every variant is one "unchanged, skipped" line, nothing else to do
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    skipped = re.findall(r"\] ([\w.+-]+): unchanged, skipped$", again.stderr, re.M)
    assert skipped == names and "built" not in again.stderr
    assert read_json(out / "optimize-timings.json")["skipped"] == names
