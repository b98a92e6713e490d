"""A model the TFLite converter cannot convert: one line, exit 2, no traceback, nothing half-written."""
import pytest

from conftest import run_edgekit, run_python

# SavedModels of plain tf.Modules (no Keras inside): "strings" uses string ops, which no TFLite builtin op
# expresses; "plain" is a softmax over one matmul, which converts.
MAKE = r"""
import sys
import numpy as np
import tensorflow as tf

class M(tf.Module):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.w = tf.Variable(rng.normal(0, 0.05, (784, 10)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def serve(self, x):
        x = tf.reshape(x, [-1, 784])
        if sys.argv[2] == "strings":
            return {"probs": tf.nn.softmax(tf.strings.to_number(tf.strings.as_string(x))[:, :10])}
        return {"probs": tf.nn.softmax(tf.matmul(x, self.w))}

m = M()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
"""

RECIPE = """
[[variant]]
name = "float32"
chain = []
"""


@pytest.mark.slow
def test_an_unconvertible_model_is_one_line(tmp_path, small_npz):
    sm = tmp_path / "strings_model"
    run_python(MAKE, str(sm), "strings")
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    proc = run_edgekit("optimize", sm, "--data", small_npz, "--recipe", recipe, "--out", out)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "TFLite converter cannot convert" in ln]
    assert len(lines) == 1 and len(lines[0]) < 600, proc.stderr[-3000:]
    # nothing half-written: no variant folder, no temporary left behind
    assert not (out / "variants" / "float32").exists()
    assert not (out / "variants").exists() or not any((out / "variants").iterdir())


PTQ = """
[[variant]]
name = "float32"
chain = []
[[variant]]
name = "float16"
chain = ["ptq-float16"]
"""


@pytest.mark.slow
def test_a_plain_tf_module_saved_model_gets_the_post_training_passes(tmp_path, small_npz):
    sm = tmp_path / "plain_model"
    run_python(MAKE, str(sm), "plain")
    ptq, prune = tmp_path / "ptq.toml", tmp_path / "prune.toml"
    ptq.write_text(PTQ)
    prune.write_text('[[variant]]\nname = "p"\nchain = ["prune(0.5)"]\n')
    proc = run_edgekit("optimize", sm, "--data", small_npz, "--recipe", ptq, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("float32", "float16"):
        assert (tmp_path / "out" / "variants" / name / "model.tflite").is_file()
    proc = run_edgekit("optimize", sm, "--data", small_npz, "--recipe", prune, "--out", tmp_path / "out2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1, proc.stderr
