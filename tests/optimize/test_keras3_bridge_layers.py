"""The Keras 3 bridge per layer family: Keras 3 models built and run in a child, rebuilt as tf-keras
here, outputs compared (and the translation's rules on plain configs, without TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _keras3_models import build_models

from edgekit.optimize.keras3 import bridge, translate
from edgekit.optimize.keras3.translate import Unsupported

# family -> input shape of its model (the models are in tests/optimize/_keras3_models.py)
FAMILIES = {
    "conv_family": (16, 16, 3), "activations": (8, 8, 4), "merge": (6, 6, 4), "pool_pad": (12, 12, 3),
    "reshape_dense": (4, 4, 2), "preprocessing": (8, 8, 3), "ops": (6, 6, 3), "seq_hard_sigmoid": (10,),
    "nested": (8, 8, 3), "branches": (28, 28, 1), "seq": (28, 28, 1),
    "mobilenet": (32, 32, 3), "mobilenet_v3_small": (32, 32, 3), "efficientnet_b0": (32, 32, 3),
}
H5 = ("branches", "seq", "efficientnet_b0", "preprocessing")


@pytest.fixture(scope="module")
def dumped(tmp_path_factory) -> dict[str, bridge.Dumped]:
    """Every family's model saved by Keras 3 (.keras; some also .h5) and dumped by ONE bridge child."""
    work = tmp_path_factory.mktemp("keras3-layers")
    files = build_models(work / "models", [*FAMILIES, "unsupported"], formats=("keras", "h5"))
    rng = np.random.default_rng(1)
    jobs, out = [], {}
    for name, shape in [*FAMILIES.items(), ("unsupported", (6, 4, 1))]:
        for fmt in ("keras", "h5") if name in H5 else ("keras",):
            d = work / f"dump-{name}-{fmt}"
            d.mkdir()
            x = rng.uniform(0, 1, (32, *shape)).astype(np.float32) * (255 if name == "preprocessing" else 1)
            np.save(d / "sample.npy", x)
            jobs.append({"model": str(files[name][fmt]), "out": str(d), "sample": str(d / "sample.npy")})
            out[f"{name}.{fmt}"] = bridge.Dumped(d)
    bridge.run_child(jobs)
    out["files"] = files
    return out


@pytest.mark.parametrize("key", [f"{n}.keras" for n in FAMILIES] + [f"{n}.h5" for n in H5])
def test_family_outputs_match_keras3(dumped, key):
    d = dumped[key]
    assert d.error is None, d.error
    index, _ = d.weights()
    model, copied = bridge.build(d)
    assert copied == sum(len(v) for v in index.values()) > 0       # every Keras 3 weight found a place
    assert copied == len(model.weights)                            # and every tf-keras weight was set
    max_abs, tol = bridge.compare(model, np.load(d.dir / "sample.npy"), d.outputs())
    assert max_abs <= tol, (key, max_abs)


def test_an_unsupported_layer_is_named(dumped):
    with pytest.raises(Unsupported) as err:
        bridge.build(dumped["unsupported.keras"])
    assert err.value.layer_class == "UnitNormalization" and err.value.layer_name == "unit_norm"


def test_outputs_that_differ_are_refused_with_the_numbers(dumped, tmp_path):
    import shutil

    d = tmp_path / "tampered"
    shutil.copytree(dumped["merge.keras"].dir, d)
    np.save(d / "outputs.npy", np.load(d / "outputs.npy") + 0.01)
    with pytest.raises(bridge.Mismatch, match=r"max abs output difference 1\.000e-02 on 32 inputs .* tolerance"):
        bridge._finish(Path("merge.keras"), bridge.Dumped(d), "32 inputs")


def test_a_weight_without_a_place_is_an_error(dumped, tmp_path):
    import json
    import shutil

    d = tmp_path / "extra"
    shutil.copytree(dumped["seq.keras"].dir, d)
    index = json.loads((d / "weights.json").read_text())
    index["ghost"] = [{"name": "kernel", "path": "ghost/kernel", "shape": [3], "key": "w0"}]
    (d / "weights.json").write_text(json.dumps(index))
    with pytest.raises(bridge.Mismatch, match="ghost"):
        bridge.build(bridge.Dumped(d))


def test_load_user_model_checks_on_the_data_and_keeps_the_child_output(dumped, tmp_path, capsys):
    from edgekit.errors import EdgekitError
    from edgekit.optimize import models
    from edgekit.optimize.data import from_arrays

    rng = np.random.default_rng(0)
    grey = from_arrays(rng.uniform(0, 1, (40, 28, 28, 1)), rng.integers(0, 10, 40),
                       rng.uniform(0, 1, (20, 28, 28, 1)), rng.integers(0, 10, 20))
    path = dumped["files"]["seq"]["h5"]
    loaded = models.load_user_model(path, tmp_path, data=grey)
    assert loaded.kind == "keras3" and loaded.trainable and loaded.keras_model.input_shape == (None, 28, 28, 1)
    line = capsys.readouterr().err.strip()
    # 20 test images topped up with 12 training images: at least 32 inputs from the data
    assert line.startswith("Keras 3 bridge: seq.h5 rebuilt as tf-keras (9 layers, 8 weight tensors copied); "
                           "max abs output difference on 32 inputs from the data: "), line
    cached = list(tmp_path.glob("keras3-*"))
    assert len(cached) == 1 and (cached[0] / "outputs.npy").exists()
    stamp = (cached[0] / "outputs.npy").stat().st_mtime_ns
    again = models.load_user_model(path, tmp_path, data=grey)    # no Keras 3 child this time
    assert (cached[0] / "outputs.npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.keras_model.get_weights()[0], loaded.keras_model.get_weights()[0])

    small = from_arrays(rng.uniform(0, 1, (40, 8, 8, 1)), rng.integers(0, 10, 40),
                        rng.uniform(0, 1, (20, 8, 8, 1)), rng.integers(0, 10, 20))
    with pytest.raises(EdgekitError, match="expects 28x28x1"):
        models.load_user_model(path, tmp_path, data=small)


# --------------------------------------------------------------------------- translation rules (no TensorFlow)

def _tensor(name):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [name, 0, 0]}}


def _layer(cls, name, args, module="keras.layers", **config):
    return {"module": module, "class_name": cls, "name": name, "registered_name": None,
            "config": {"name": name, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}, **config},
            "inbound_nodes": [{"args": args, "kwargs": {}}] if args is not None else []}


def _model(*layers, out):
    return {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"name": "x", "batch_shape": [None, 4], "dtype": "float32", "sparse": False, "optional": False}},
        *layers], "input_layers": ["x", 0, 0], "output_layers": [out, 0, 0]}}


def test_translation_of_keras3_config_keys():
    m = translate.translate_model(_model(
        _layer("Dense", "d", [_tensor("x")], units=4, activation="silu", lora_rank=None,
               kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "config": {"seed": None, "input_axes": None}, "registered_name": None}),
        _layer("Multiply", "scale", [_tensor("d"), 0.5], module="keras.src.ops.numpy"),
        _layer("Add", "sum", [[_tensor("scale"), _tensor("x")]]),
        out="sum"))["config"]
    inp, dense, scale, add = m["layers"]
    assert inp["config"] == {"name": "x", "batch_input_shape": [None, 4], "dtype": "float32", "sparse": False}
    assert dense["config"]["dtype"] == "float32" and dense["config"]["activation"] == "swish"
    assert "lora_rank" not in dense["config"]
    assert dense["config"]["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert (scale["class_name"], scale["config"]["scale"], scale["config"]["offset"]) == ("Rescaling", 0.5, 0.0)
    assert add["inbound_nodes"] == [[["scale", 0, 0, {}], ["x", 0, 0, {}]]]
    assert m["input_layers"] == [["x", 0, 0]] and m["output_layers"] == [["sum", 0, 0]]


def test_hard_swish_becomes_three_standard_layers_and_keeps_its_name_for_the_weights():
    m = translate.translate_model(_model(_layer("Dense", "d", [_tensor("x")], units=4, activation="hard_silu"),
                                         _layer("Dense", "head", [_tensor("d")], units=2), out="head"))["config"]
    names = [(l["class_name"], l["name"]) for l in m["layers"]]
    assert names == [("InputLayer", "x"), ("Dense", "d"), ("Rescaling", "d__hs_scale"), ("ReLU", "d__hs_clip"),
                     ("Multiply", "d__hs_mul"), ("Dense", "head")]
    assert m["layers"][4]["inbound_nodes"] == [[["d", 0, 0, {}], ["d__hs_clip", 0, 0, {}]]]
    assert m["layers"][5]["inbound_nodes"] == [[["d__hs_mul", 0, 0, {}]]]     # later layers read the product


def test_options_without_a_tf_keras_equivalent_are_refused():
    with pytest.raises(Unsupported, match="lora_rank=4"):
        translate.translate_model(_model(_layer("Dense", "d", [_tensor("x")], units=4, lora_rank=4), out="d"))
    with pytest.raises(Unsupported, match="ops.Power"):
        translate.translate_model(_model(_layer("Power", "p", [_tensor("x"), 2.0], module="keras.src.ops.numpy"), out="p"))
    with pytest.raises(Unsupported) as err:
        translate.translate_model({"class_name": "MyModel", "config": {"name": "mine"}})
    assert "subclassed" in str(err.value)
