"""The shipped, trained built-in default model: used exactly when it was made for the run's inputs."""
import json

from conftest import run_python

CHECK = r"""
import json, sys
from edgekit.optimize import models, pretrained
from edgekit.optimize.data import load_data
from edgekit.optimize.plan import DEFAULT_DATA, teacher_epochs
from edgekit.optimize.recipe import load
from edgekit.passes.training import set_seed

recipe = load(None)
ds = load_data(DEFAULT_DATA)
set_seed(0)
model = models.build_teacher(ds.input_shape, ds.num_classes)
key = pretrained.teacher_key(model, ds, epochs=teacher_epochs(recipe), seed=0, training=models.TEACHER_TRAINING)
other = pretrained.teacher_key(model, ds, epochs=teacher_epochs(recipe), seed=1, training=models.TEACHER_TRAINING)
info = pretrained.load_if_matching(model, key)
not_used = pretrained.load_if_matching(model, other)
acc = None
if info is not None:
    probs = model.predict(ds.x_test[:2000], batch_size=500, verbose=0)
    acc = float((probs.argmax(1) == ds.y_test[:2000]).mean())
print(json.dumps({"matches": info is not None, "other_seed_used": not_used is not None, "accuracy": acc,
                  "shipped": pretrained.shipped_info()}))
"""


def test_the_shipped_teacher_is_the_default_and_is_trained():
    out = json.loads(run_python(CHECK).strip().splitlines()[-1])
    assert out["shipped"] is not None, "edgekit/optimize/pretrained/ has no default teacher"
    assert out["matches"], ("the shipped default teacher no longer matches the default (architecture, epochs, "
                            "seed, data or training changed): run `.venv/bin/python -m edgekit.optimize.pretrained`")
    assert not out["other_seed_used"]
    # Trained, not random: the default teacher reaches ~90% on Fashion-MNIST (10% is chance).
    assert out["accuracy"] > 0.87, out
    assert abs(out["accuracy"] - out["shipped"]["test_accuracy"]) < 0.03
