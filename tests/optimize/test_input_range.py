"""--input-range: parsing, the mapping, detection of an in-model Rescaling layer, and a model trained on [-1, 1].

A tiny CNN trained on pixels mapped to [-1, 1]: with ``--input-range -1-1`` edgekit's host accuracy of
its float32 variant equals the Keras accuracy; without it edgekit warns (0-1 and -1-1 disagree by more
than 5 pt on a sample). The device evaluation set is mapped on the host the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

from _tflite_input_models import make, recipe
from conftest import read_json, run_edgekit, run_python
from edgekit.errors import EdgekitError
from edgekit.optimize.data.normalize import DEFAULT, InputRange, parse_input_range


def test_named_ranges_and_mean_std_map_pixels():
    x = np.array([0.0, 0.5, 1.0], dtype=np.float32).reshape(1, 1, 3, 1)
    assert parse_input_range("0-1").identity and parse_input_range("0-1").apply(x) is x
    assert np.allclose(parse_input_range("-1-1").apply(x).ravel(), [-1, 0, 1])
    assert np.allclose(parse_input_range("0-255").apply(x).ravel(), [0, 127.5, 255])
    assert np.allclose(parse_input_range("mean=127.5,std=127.5").apply(x).ravel(), [-1, 0, 1])
    assert parse_input_range("[-1,1]").spec == "-1-1"
    rgb = np.ones((1, 2, 2, 3), dtype=np.float32)
    r = parse_input_range("mean=0.485,0.456,0.406,std=0.229,0.224,0.225")      # torchvision units (0..1)
    assert np.allclose(r.apply(rgb)[0, 0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], atol=1e-4)
    assert r.mean[0] == pytest.approx(0.485 * 255)
    back = InputRange.from_dict(r.to_dict())
    assert (back.mean, back.std) == (r.mean, r.std) and InputRange.from_dict(None) == DEFAULT


@pytest.mark.parametrize("text, words", [
    ("0-2", "is not understood"), ("mean=1,2,std=1,2,3", "2 means but 3 stds"), ("mean=0,std=0", "positive"),
    ("mean=a,std=1", "not a list of numbers"),
])
def test_bad_ranges_are_one_line_errors(text, words):
    with pytest.raises(EdgekitError, match=words) as err:
        parse_input_range(text)
    assert "\n" not in err.value.one_line()


def test_per_channel_range_must_match_the_channels():
    with pytest.raises(EdgekitError, match="3 values per channel but the images have 1"):
        parse_input_range("mean=1,2,3,std=4,5,6").apply(np.zeros((1, 2, 2, 1), np.float32))


def test_device_evaluation_set_is_mapped_on_the_host(small_npz, tmp_path):
    from edgekit.bench.evalset import _common_range, load_eval_set

    ev = load_eval_set(small_npz, tmp_path, limit=20, input_range=parse_input_range("-1-1").to_dict())
    x = np.load(ev.x_path)
    raw = np.load(small_npz)["x_test"][:20]
    assert x.shape == (20, 28, 28, 1) and np.allclose(x[..., 0], raw / 127.5 - 1.0, atol=1e-6)

    class T:   # stand-ins for bench targets: only the manifest fields _common_range reads
        def __init__(self, name, r):
            self.name, self.input_range = name, r

    assert _common_range([T("a", None), T("b", DEFAULT.to_dict())]) is None
    with pytest.raises(EdgekitError, match="different input ranges"):
        _common_range([T("a", None), T("b", parse_input_range("-1-1").to_dict())])


DETECT = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tf_keras as keras
from edgekit.optimize.data.normalize import detect
L = keras.layers
def model(first):
    i = L.Input((8, 8, 1)); h = first(i) if first else i
    return keras.Model(i, L.Dense(2)(L.Flatten()(L.Conv2D(2, 3)(h))))
print(detect(model(L.Rescaling(1 / 255.0))).to_dict())
print(detect(model(L.Rescaling(1 / 127.5, offset=-1))).spec)
print(detect(model(L.Rescaling(2.0, offset=-1))).spec)
n = L.Normalization(mean=120.0, variance=3600.0)
print(detect(model(n)).spec)
print(detect(model(None)))
"""


def test_an_in_model_rescaling_or_normalization_layer_is_detected():
    lines = run_python(DETECT, env={"PYTHONPATH": "."}).strip().splitlines()
    first = eval(lines[0])   # noqa: S307 - our own child's dict repr
    assert first["spec"] == "0-255" and first["source"] == "detected" and "Rescaling layer" in first["detail"]
    assert lines[1:] == ["0-255", "0-1", "0-255", "None"]


@pytest.fixture(scope="module")
def minus_one_model(small_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("range")
    return root, make(small_npz, root, inputs="-1-1")


@pytest.mark.slow
def test_a_model_trained_on_minus_one_to_one_matches_keras_with_the_range(minus_one_model, small_npz, tmp_path):
    root, keras_acc = minus_one_model
    rec = recipe(tmp_path / "r.toml", ("float32", []), ("int8", ["ptq-int8(calibration=256)"]))
    r = run_edgekit("optimize", root / "model.h5", "--data", small_npz, "--recipe", rec, "--out", tmp_path / "o",
                    "--input-range", "-1-1", check=True)
    assert "warning: input range" not in r.stderr
    f32 = read_json(tmp_path / "o" / "variants" / "float32" / "eval.json")
    assert abs(f32["accuracy"] - keras_acc) <= 0.005, (f32["accuracy"], keras_acc)
    int8 = read_json(tmp_path / "o" / "variants" / "int8" / "eval.json")
    assert int8["status"] == "ok" and abs(int8["accuracy"] - keras_acc) <= 0.02    # calibrated on [-1, 1] too
    m = read_json(tmp_path / "o" / "variants" / "int8" / "manifest.json")
    assert m["input_range"]["spec"] == "-1-1" and m["input_range"]["source"] == "user"
    assert m["input_range"]["mean"] == [127.5] and m["input_range"]["std"] == [127.5]
    q = m["io"]["input"]["quantization"]       # the int8 input covers [-1, 1]
    assert (-128 - q["zero_point"]) * q["scale"] == pytest.approx(-1.0, abs=0.02)


@pytest.mark.slow
def test_without_the_range_the_disagreement_is_warned(minus_one_model, small_npz, tmp_path):
    root, keras_acc = minus_one_model
    rec = recipe(tmp_path / "r.toml", ("float32", []))
    r = run_edgekit("optimize", root / "model.h5", "--data", small_npz, "--recipe", rec, "--out", tmp_path / "o",
                    check=True)
    warn = [ln for ln in r.stderr.splitlines() if "warning: input range" in ln]
    assert len(warn) == 1 and "pass --input-range -1-1" in warn[0] and "more than 5 pt apart" in warn[0], r.stderr
    m = read_json(tmp_path / "o" / "variants" / "float32" / "manifest.json")
    assert m["input_range"]["source"] == "default" and "-1-1:" in m["input_range"]["detail"]
    assert read_json(tmp_path / "o" / "variants" / "float32" / "eval.json")["accuracy"] < keras_acc - 0.05
