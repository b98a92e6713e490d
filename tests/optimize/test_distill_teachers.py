"""Any model teaches a distilled student: a float `.tflite` (predicted in the child-process runner) and a
Keras 3 file the bridge cannot rebuild (exported to a SavedModel, converted once to a float .tflite);
the teacher's outputs are cached under OUT/cache and reused by every student and every re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from _tflite_input_models import make, recipe
from conftest import read_json, run_edgekit

pytestmark = pytest.mark.slow

STUDENTS = (("dist4", ["distill(epochs=1, width=4, batch_size=32)"]), ("dist8", ["distill(epochs=1, width=8, batch_size=32)"]))

# A Keras 3 CNN with a layer the bridge has no tf-keras translation for (UnitNormalization), ending in
# logits (no softmax): it reaches the student only through its SavedModel export, and edgekit applies
# the softmax itself.
KERAS3_LOGITS = r"""
import os, sys
os.environ.pop("TF_USE_LEGACY_KERAS", None)
import numpy as np, keras
keras.utils.set_random_seed(0)
d = np.load(sys.argv[2])
L = keras.layers
i = keras.Input((28, 28, 1))
h = L.MaxPooling2D()(L.Conv2D(4, 3, activation="relu")(i))
h = L.UnitNormalization(name="unit_norm")(L.Flatten()(h))
m = keras.Model(i, L.Dense(10)(h))
m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
m.fit(d["x_train"][..., None].astype("float32") / 255.0, d["y_train"], epochs=2, batch_size=64, verbose=0)
m.save(sys.argv[1])
"""


def _teacher_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("teacher outputs:")]


def _check_students(proc, out, kind: str, names) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)["variants"]}
    assert list(rows) == list(names)
    for name in names:
        assert rows[name]["status"] == "ok", rows[name]
        m = read_json(out / "variants" / name / "manifest.json")
        e = read_json(out / "variants" / name / "eval.json")
        assert m["base"] == "student" and m["chain"][0]["pass"] == "distill"
        assert m["teacher"]["kind"] == kind and len(m["teacher"]["sha256"]) == 64
        assert m["compatibility"]["status"] == "ok" and e["status"] == "ok", (m["compatibility"], e.get("error"))
        # recorded (a few tiny epochs on 800 images: not a measure of the student's quality)
        assert isinstance(e["accuracy"], float) and 0.0 <= e["accuracy"] <= 1.0, e
        assert rows[name]["accuracy"] == e["accuracy"]
        assert m["versions"]["converter"].startswith("tensorflow")          # the student goes through the TF converter
    return rows


@pytest.fixture(scope="module")
def tflite_runs(small_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite-teacher")
    make(small_npz, root / "m")
    rec = recipe(root / "r.toml", *STUDENTS)
    args = ("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", rec, "--out", root / "o", "--json")
    first = run_edgekit(*args)
    caches = sorted((root / "o" / "cache").glob("teacher-outputs-*.npy"))
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in caches}
    again = recipe(root / "again.toml", STUDENTS[0])    # one student is enough to show the cache is reused
    for f in (root / "o" / "cache").glob("student-*"):   # the trained students would be loaded, no teacher asked:
        f.unlink()                                       # the teacher's outputs are what is under test here
    second = run_edgekit("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", again,
                         "--out", root / "o", "--json", "--force")
    return root, first, second, caches, stamps


def test_a_tflite_teacher_trains_students(tflite_runs, small_npz):
    root, first, _, caches, _ = tflite_runs
    _check_students(first, root / "o", "tflite", [n for n, _ in STUDENTS])
    lines = _teacher_lines(first.stderr)
    # one teacher prediction (in the child-process runner) for both students
    assert len(lines) == 1 and "predicted by the tflite teacher" in lines[0], first.stderr[-2000:]
    assert "softmax" not in first.stderr          # the .tflite ends in a Softmax: probabilities as they are
    assert len(caches) == 1
    probs = np.load(caches[0])
    assert probs.shape == (800, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert (probs.argmax(axis=1) == np.load(small_npz)["y_train"]).mean() > 0.4     # the teacher's, in image order


def test_a_rerun_reuses_the_cached_teacher_outputs(tflite_runs):
    root, first, second, caches, stamps = tflite_runs
    _check_students(second, root / "o", "tflite", [STUDENTS[0][0]])
    lines = _teacher_lines(second.stderr)
    assert len(lines) == 1 and "reused from" in lines[0] and caches[0].name in lines[0], second.stderr[-2000:]
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in caches} == stamps      # not rewritten
    assert sorted((root / "o" / "cache").glob("teacher-outputs-*.npy")) == caches


def test_other_training_passes_on_a_tflite_stay_refused(tflite_runs, small_npz, tmp_path):
    root = tflite_runs[0]
    rec = recipe(tmp_path / "r.toml", ("d", ["distill(epochs=1, width=4)"]), ("p", ["prune(0.5)", "ptq-int8"]))
    r = run_edgekit("optimize", root / "m" / "model.tflite", "--data", small_npz, "--recipe", rec, "--out", tmp_path / "o")
    assert r.returncode == 2 and "pass 'prune'" in r.stderr and "no training graph" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "o" / "variants" / "d").exists()


def test_a_keras3_teacher_the_bridge_cannot_rebuild_trains_a_student(small_npz, tmp_path):
    model = tmp_path / "k3-logits.keras"
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", KERAS3_LOGITS, str(model), str(small_npz)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = recipe(tmp_path / "r.toml", STUDENTS[0])
    out = tmp_path / "o"
    r = run_edgekit("optimize", model, "--data", small_npz, "--recipe", rec, "--out", out, "--json")
    _check_students(r, out, "keras3", ["dist4"])
    assert any(ln.startswith("Keras 3 bridge:") and "UnitNormalization" in ln for ln in r.stderr.splitlines())
    lines = _teacher_lines(r.stderr)
    assert len(lines) == 2, r.stderr[-2000:]
    assert "predicted by the keras3 teacher" in lines[0]
    assert "gives logits, not probabilities" in lines[1] and "softmax is applied" in lines[1]
    assert len(list((out / "cache").glob("teacher-float32-*.tflite"))) == 1   # converted once, kept


def test_a_tf_keras_teacher_still_teaches_and_caches_its_outputs(tiny_model, small_npz, tmp_path):
    rec = recipe(tmp_path / "r.toml", STUDENTS[0], ("dist-u", ["distill(epochs=1, width=4, batch_size=32, unlabelled=true)"]))
    out = tmp_path / "o"
    r = run_edgekit("optimize", tiny_model, "--data", small_npz, "--recipe", rec, "--out", out, "--json")
    _check_students(r, out, "tf-keras", ["dist4", "dist-u"])
    lines = _teacher_lines(r.stderr)       # no unlabelled images of its own: both students use the training images
    assert len(lines) == 1 and "predicted by the tf-keras teacher" in lines[0], r.stderr[-2000:]
    assert len(list((out / "cache").glob("teacher-outputs-*.npy"))) == 1


def test_labelled_and_unlabelled_images_train_one_student_with_a_consistent_teacher(tiny_model, small_npz, tmp_path):
    """--unlabelled with a labelled distill: both image sets train the student; with augmentation the
    teacher labels each epoch's augmented images (cached like any teacher output) and a re-run reuses them."""
    d = np.load(small_npz)
    unl = tmp_path / "unlabelled.npy"
    np.save(unl, d["x_test"][:100])
    rec = recipe(tmp_path / "r.toml", ("mix", ["distill(epochs=2, width=4, batch_size=32, augment=shift)"]))
    out = tmp_path / "o"
    args = ("optimize", tiny_model, "--data", small_npz, "--unlabelled", unl, "--recipe", rec, "--out", out, "--json")
    r = run_edgekit(*args)
    _check_students(r, out, "tf-keras", ["mix"])
    lines = _teacher_lines(r.stderr)
    assert len(lines) == 2, r.stderr[-2000:]
    for epoch, line in enumerate(lines, 1):
        assert (f"{800 + 100} train+unlabelled, augmented (shift, seed 0, batch 32, epoch {epoch}) images predicted"
                in line), line
    m = read_json(out / "variants" / "mix" / "manifest.json")
    assert m["chain"][0]["params"]["augment"] == "shift" and m["chain"][0]["params"]["schedule"] == "cosine"
    cached = run_edgekit(*args, "--force")   # the trained student is loaded: the teacher is not asked at all
    assert cached.returncode == 0 and "reused from student-" in cached.stderr, cached.stderr[-2000:]
    assert not _teacher_lines(cached.stderr), cached.stderr[-2000:]
    for f in (out / "cache").glob("student-*"):   # without it, the student trains on the cached teacher outputs
        f.unlink()
    again = run_edgekit(*args, "--force")
    assert again.returncode == 0, again.stderr[-2000:]
    assert [("reused from" in ln) for ln in _teacher_lines(again.stderr)] == [True, True], again.stderr[-2000:]
