"""The built-in student family (issue 14 item 2): MobileNet (separable, the default) and MobileNetV2
(inverted-residual) students chosen by ``distill(block=…, width=…, depth=…, resolution=…)``, checked
before any training, recorded in the manifest with their parameter count and MACs."""

from __future__ import annotations

import json

import pytest

from conftest import read_json, run_edgekit, run_python
from edgekit.optimize.recipe import RecipeError, parse

FAMILY = r"""
import json, os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
from edgekit.optimize import models, student
from edgekit.passes.quantization import unsupported_layers
out = {}
for w, d, r in [(8, 1, None), (16, 1, None), (24, 1, None), (8, 2, None), (8, 3, None), (8, 1, 14), (8, 1, 20)]:
    m = models.build_student((28, 28, 1), 10, width=w, depth=d, resolution=r, block="inverted")
    kinds = sorted({type(layer).__name__ for layer in m.layers})
    out[f"{w},{d},{r}"] = {"params": m.count_params(), "macs": student.keras_macs(m), "kinds": kinds,
                           "input": list(m.input_shape), "output": list(m.output_shape),
                           "qat": unsupported_layers(m) if r in (14, 20) or d == 2 else None}
default = models.build_student((28, 28, 1), 10)
out["default"] = {"params": default.count_params(), "macs": student.keras_macs(default),
                  "kinds": sorted({type(layer).__name__ for layer in default.layers})}
sep = models.build_student((28, 28, 1), 10, depth=2, resolution=14)
out["separable,2,14"] = {"params": sep.count_params(), "macs": student.keras_macs(sep), "input": list(sep.input_shape),
                         "output": list(sep.output_shape), "qat": unsupported_layers(sep)}
inv = models.build_student((28, 28, 1), 10, block="inverted")
out["inverted default"] = {"params": inv.count_params(), "macs": student.keras_macs(inv)}
print(json.dumps(out))
"""

# edgekit's original width-16 depthwise-separable student on 28x28x1, 10 classes (the default)
OLD_STUDENT_PARAMS, OLD_STUDENT_MACS = 9610, 585504


@pytest.fixture(scope="module")
def family():
    return json.loads(run_python(FAMILY).strip().splitlines()[-1])


def test_the_family_grows_with_width_and_depth_and_shrinks_with_resolution(family):
    p = {k: v["params"] for k, v in family.items()}
    macs = {k: v["macs"] for k, v in family.items()}
    assert p["8,1,None"] < p["16,1,None"] < p["24,1,None"]          # wider: more parameters
    assert p["8,1,None"] < p["8,2,None"] < p["8,3,None"]             # deeper: more parameters
    assert macs["8,1,None"] < macs["16,1,None"] < macs["24,1,None"]
    assert macs["8,1,14"] < macs["8,1,20"] < macs["8,1,None"]         # lower resolution: fewer MACs...
    assert p["8,1,14"] == p["8,1,20"] == p["8,1,None"]                # ...and the same parameters
    for k, v in family.items():
        if "input" in v:
            assert v["input"] == [None, 28, 28, 1] and v["output"] == [None, 10], k   # takes the data's images
    # inverted-residual blocks: 1x1 expand, depthwise, linear projection, residual add, ReLU6, BatchNorm
    assert {"Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add", "Dense", "Softmax"} <= set(family["8,2,None"]["kinds"])
    assert "AveragePooling2D" in family["8,1,14"]["kinds"]            # 28 -> 14: an exact pool
    assert "Resizing" in family["8,1,20"]["kinds"]                     # 28 -> 20: bilinear


def test_the_default_student_is_the_original_one_and_the_inverted_default_its_size_class(family):
    d = family["default"]
    assert (d["params"], d["macs"]) == (OLD_STUDENT_PARAMS, OLD_STUDENT_MACS)
    assert "Add" not in d["kinds"] and "DepthwiseConv2D" in d["kinds"]          # separable blocks
    assert family["inverted default"] == {k: family["8,1,None"][k] for k in ("params", "macs")}
    assert 0.7 * OLD_STUDENT_PARAMS <= family["inverted default"]["params"] <= 1.3 * OLD_STUDENT_PARAMS
    assert family["separable,2,14"]["macs"] < OLD_STUDENT_MACS and family["separable,2,14"]["params"] > OLD_STUDENT_PARAMS
    assert family["separable,2,14"]["qat"] == []


def test_qat_takes_the_pooled_students_and_names_the_bilinear_resize(family):
    assert family["8,2,None"]["qat"] == [] and family["8,1,14"]["qat"] == []
    assert family["8,1,20"]["qat"] == ["resize (Resizing)"]


@pytest.mark.parametrize("step, words", [
    ("distill(width=0)", "parameter 'width': 0 is out of range (4 ≤ width ≤ 512"),
    ("distill(block='resnet')", "parameter 'block': 'resnet' is not one of separable, inverted"),
    ("distill(width=2.5)", "parameter 'width': 2.5 is not an integer"),
    ("distill(depth=0)", "parameter 'depth': 0 is out of range (1 ≤ depth ≤ 6"),
    ("distill(depth=7)", "parameter 'depth': 7 is out of range"),
    ("distill(resolution=4)", "parameter 'resolution': 4 is out of range (8 ≤ resolution"),
    ("distill(student='s.h5', depth=2)", "parameter 'depth': it shapes the built-in student"),
])
def test_illegal_family_parameters_are_a_recipe_error(step, words):
    with pytest.raises(RecipeError) as exc:
        parse(f'[[variant]]\nname = "s"\nchain = ["{step}"]\n', "r.toml")
    assert words in exc.value.message and "r.toml:2: variant 's', pass 'distill'" in exc.value.message


def _recipe(tmp_path, chain: str, settings: str = "") -> str:
    path = tmp_path / "r.toml"
    path.write_text(f'{settings}[[variant]]\nname = "s"\nchain = {chain}\n')
    return path


@pytest.mark.parametrize("chain, words", [
    ('["distill(depth=9)"]', "parameter 'depth': 9 is out of range (1 ≤ depth ≤ 6"),
    ('["distill(resolution=64)", "ptq-int8(32)"]',
     "parameter 'resolution': resolution 64 is larger than the images' shorter side (28 px)"),
    ('["distill(block=\'inverted\', resolution=20)", "qat(1)"]', "pass 'qat': tfmot cannot quantise layer resize (Resizing)"),
])
def test_illegal_parameters_stop_edgekit_optimize_in_one_line(tmp_path, small_npz, chain, words):
    proc = run_edgekit("optimize", "--data", small_npz, "--recipe", _recipe(tmp_path, chain),
                       "--out", tmp_path / "o", timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not list((tmp_path / "o" / "variants").glob("*/model.tflite"))   # nothing was trained


@pytest.mark.slow
def test_a_distilled_family_member_records_its_parameters_and_macs(tmp_path, small_npz, tiny_model):
    rec = _recipe(tmp_path, '["distill(block=\'inverted\', width=8, depth=2, resolution=14, epochs=1, batch_size=64)", "ptq-int8(32)"]',
                  "[settings]\nteacher_epochs = 1\n\n")
    with open(rec, "a") as f:   # the user's own architecture from a file is still a student
        f.write(f'[[variant]]\nname = "f"\nchain = ["distill(student=\'{tiny_model}\', epochs=1)"]\n')
    out = tmp_path / "o"
    proc = run_edgekit("optimize", "--data", small_npz, "--recipe", rec, "--out", out, "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = read_json(out / "variants" / "s" / "manifest.json")
    st = m["student"]
    assert {k: st[k] for k in ("arch", "block", "width", "depth", "resolution", "expansion")} == {
        "arch": "built-in", "block": "inverted", "width": 8, "depth": 2, "resolution": 14, "expansion": 3}
    assert st["param_count"] == m["param_count"] > 0
    assert m["io"]["input"]["shape"] == [1, 28, 28, 1] and m["io"]["input"]["dtype"] == "int8"
    # the MACs read from the int8 .tflite are those of the Keras student, counted layer by layer
    keras_macs = run_python(r"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
from edgekit.optimize import models, student
print(student.keras_macs(models.build_student((28, 28, 1), 10, width=8, depth=2, resolution=14, block="inverted")))
""").strip().splitlines()[-1]
    assert st["macs"] == int(keras_macs) > 0
    e = read_json(out / "variants" / "s" / "eval.json")
    assert e["status"] == "ok" and 0.0 <= e["accuracy"] <= 1.0
    f = read_json(out / "variants" / "f" / "manifest.json")
    assert f["student"]["arch"] == "file" and f["student"]["source"] == str(tiny_model)
    assert f["student"]["param_count"] == f["param_count"] > 0 and f["student"]["macs"] > 0
    assert read_json(out / "variants" / "f" / "eval.json")["status"] == "ok"
