"""A model the TFLite converter cannot convert: one line, exit 2, no traceback, nothing half-written."""
import pytest

from conftest import run_edgekit, run_python

# A SavedModel whose graph uses string ops: no TFLite builtin op expresses them.
MAKE = r"""
import sys
import tensorflow as tf

class M(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def serve(self, x):
        y = tf.strings.to_number(tf.strings.as_string(x))
        return {"probs": tf.nn.softmax(tf.reshape(y, [-1, 784])[:, :10])}

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
    run_python(MAKE, str(sm))
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
    assert not [p for p in (out / "variants").glob("*")] if (out / "variants").exists() else True


# A SavedModel of a plain tf.Module (no Keras inside): the post-training passes, not the training ones.
MAKE_PLAIN = r"""
import sys
import numpy as np
import tensorflow as tf

class M(tf.Module):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.w = tf.Variable(rng.normal(0, 0.05, (784, 10)).astype("float32"))
        self.b = tf.Variable(np.zeros(10, "float32"))

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def serve(self, x):
        return {"probs": tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 784]), self.w) + self.b)}

m = M()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
"""

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
    run_python(MAKE_PLAIN, str(sm))
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
