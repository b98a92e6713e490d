"""`edgekit optimize` on Keras 3 models (.keras and .h5 written by Keras 3 in a child process): the
bridge rebuilds them as tf-keras, prints its equality check, and the training passes work."""

from __future__ import annotations

import concurrent.futures as cf
import json

import numpy as np
import pytest

from _keras3_models import build_models
from conftest import read_json, run_edgekit

# .h5 files written by Keras 3 test the bridge's reading of that format: the post-training pass and one
# training pass are enough there (the prune -> cluster -> QAT chain runs once per model, on the .keras file)
RECIPE_H5 = """
[[variant]]
name = "int8"
chain = ["ptq-int8(32)"]
[[variant]]
name = "prune-int8"
chain = ["prune(sparsity=0.5, epochs=1)", "ptq-int8(32)"]
"""
RECIPE = RECIPE_H5 + """[[variant]]
name = "pcq"
chain = "prune(sparsity=0.5, epochs=1) -> cluster(4, epochs=1) -> qat(1)"
"""

# the other passes once, on the functional model with branches (teacher of a distilled student)
MORE = """
[[variant]]
name = "p24"
chain = ["prune-2:4(1)", "ptq-int8(32)"]
[[variant]]
name = "dist"
chain = ["distill(epochs=1, width=4)", "ptq-int8(32)"]
"""

# MobileNetV2 (alpha 0.35, 96x96): every pass works, but tfmot's prune/cluster/QAT on it take ~20 min and
# ~14 GB of memory per file on 2 cores, so these two are `heavy` (not in make test; run them with
# `pytest -m heavy`, one after the other).
CASES = [(m, f) for m in ("seq", "branches") for f in ("keras", "h5")] + [
    pytest.param("mnv2", f, marks=pytest.mark.heavy) for f in ("keras", "h5")]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from edgekit.optimize.data import load_fashion_mnist

    work = tmp_path_factory.mktemp("keras3-optimize")
    files = build_models(work / "models", ["seq", "branches", "mnv2", "unsupported"], formats=("keras", "h5"))
    ds = load_fashion_mnist(limit_train=128, limit_test=32)
    grey = work / "grey.npz"
    np.savez(grey, x_train=(ds.x_train[..., 0] * 255).round().astype(np.uint8), y_train=ds.y_train,
             x_test=(ds.x_test[..., 0] * 255).round().astype(np.uint8), y_test=ds.y_test)
    rng = np.random.default_rng(0)
    rgb = work / "rgb96.npz"   # MobileNetV2's 96x96x3 input: random images are enough to exercise every pass
    np.savez(rgb, x_train=rng.integers(0, 256, (64, 96, 96, 3), dtype=np.uint8), y_train=rng.integers(0, 10, 64),
             x_test=rng.integers(0, 256, (32, 96, 96, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 32))
    recipe = work / "recipe.toml"
    recipe.write_text(RECIPE)
    more = work / "recipe-more.toml"
    more.write_text(RECIPE + MORE)
    h5 = work / "recipe-h5.toml"
    h5.write_text(RECIPE_H5)
    return {"dir": work, "files": files, "data": {"seq": grey, "branches": grey, "mnv2": rgb}, "recipe": recipe,
            "more": more, "h5": h5}


@pytest.fixture(scope="module")
def runs(work, request):
    """The selected `edgekit optimize` runs, two at a time (most of a run is single-threaded graph tracing)."""
    def one(case):
        model, fmt = case
        recipe = work["more"] if case == ("branches", "keras") else work["h5"] if fmt == "h5" else work["recipe"]
        out = work["dir"] / f"out-{model}-{fmt}"
        proc = run_edgekit("optimize", work["files"][model][fmt], "--data", work["data"][model], "--recipe", recipe,
                           "--out", out, "--json", timeout=3600)   # MobileNetV2's prune/cluster/QAT: minutes
        return case, (proc, out)

    selected = {(i.callspec.params["model"], i.callspec.params["fmt"]) for i in request.session.items
                if i.module is request.module and hasattr(i, "callspec") and "model" in i.callspec.params}
    order = sorted(selected, key=lambda c: c[0] != "mnv2")   # the two long ones first
    # one MobileNetV2 run at a time: prune -> cluster -> qat on it peaks at ~14 GB of host memory, and two
    # side by side were OOM-killed on a 24 GB machine (measured)
    workers = 1 if sum(c[0] == "mnv2" for c in selected) > 1 else 2
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, order))


@pytest.mark.slow
@pytest.mark.parametrize("model,fmt", CASES)
def test_every_pass_works_on_a_keras3_model(work, runs, model, fmt):
    proc, out = runs[(model, fmt)]
    path = work["files"][model][fmt]
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)["variants"]}
    more = ["p24", "dist"] if (model, fmt) == ("branches", "keras") else []
    pcq = [] if fmt == "h5" else ["pcq"]
    assert list(rows) == ["int8", "prune-int8", *pcq, *more]
    for name in rows:
        m = read_json(out / "variants" / name / "manifest.json")
        e = read_json(out / "variants" / name / "eval.json")
        assert m["compatibility"]["status"] == "ok" and e["status"] == "ok", (name, m["compatibility"], e.get("error"))
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("Keras 3 bridge:")]
    assert len(line) == 1 and f"{path.name} rebuilt as tf-keras" in line[0], proc.stderr[-2000:]
    assert "max abs output difference on 32 inputs from the data:" in line[0]
    diff = float(line[0].split("from the data: ")[1].split()[0])
    assert diff <= 1e-4
    # the training passes really ran on the rebuilt model
    pruned = read_json(out / "variants" / "prune-int8" / "manifest.json")
    assert pruned["sparsity"]["overall"] >= 0.3, pruned["sparsity"]
    if pcq:
        m = read_json(out / "variants" / "pcq" / "manifest.json")
        assert [s["pass"] for s in m["chain"]] == ["prune", "cluster", "qat"]
        assert m["io"]["input"]["dtype"] == "int8"
    if more:
        p24 = read_json(out / "variants" / "p24" / "manifest.json")
        # 2:4 reaches the layers whose input channels are a multiple of 4 (here the Dense head)
        assert any(0.45 <= v <= 0.55 for v in p24["sparsity"]["layers"].values()), p24["sparsity"]
        dist = read_json(out / "variants" / "dist" / "manifest.json")
        assert dist["base"] == "student" and dist["chain"][0]["pass"] == "distill"


@pytest.mark.slow
def test_an_unsupported_layer_keeps_the_post_training_passes(work, tmp_path):
    path = work["files"]["unsupported"]["keras"]
    data = tmp_path / "seq.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.uniform(0, 1, (64, 6, 4)).astype(np.float32), y_train=rng.integers(0, 3, 64),
             x_test=rng.uniform(0, 1, (32, 6, 4)).astype(np.float32), y_test=rng.integers(0, 3, 32))
    ptq = tmp_path / "ptq.toml"
    ptq.write_text('[[variant]]\nname = "dyn"\nchain = ["ptq-dynamic"]\n')
    proc = run_edgekit("optimize", path, "--data", data, "--recipe", ptq, "--out", tmp_path / "out", check=True)
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("Keras 3 bridge:")]
    assert len(notes) == 1, proc.stderr[-2000:]
    assert "layer UnitNormalization (unit_norm)" in notes[0] and "post-training passes" in notes[0] and "still work" in notes[0]
    assert read_json(tmp_path / "out" / "variants" / "dyn" / "manifest.json")["compatibility"]["status"] == "ok"

    prune = tmp_path / "prune.toml"
    prune.write_text('[[variant]]\nname = "p"\nchain = ["prune(sparsity=0.5, epochs=1)"]\n')
    proc = run_edgekit("optimize", path, "--data", data, "--recipe", prune, "--out", tmp_path / "out2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Keras 3 model" in proc.stderr and "post-training passes" in proc.stderr
    refusal = [ln for ln in proc.stderr.splitlines() if "pass 'prune'" in ln]
    assert len(refusal) == 1 and "layer UnitNormalization (unit_norm)" in refusal[0], proc.stderr[-2000:]
