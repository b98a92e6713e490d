"""Pure parts of the optimise stage on synthetic inputs (no TensorFlow): data from arrays, summary texts,
the order of work, and progress lines kept out of the converter's output redirection."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from edgekit.errors import EdgekitError
from edgekit.optimize.data import Dataset, from_arrays, load_data
from edgekit.optimize.recipe import parse
from edgekit.optimize.run import _baseline_first
from edgekit.optimize.summary import evaluated_text, kb, summary_rows
from edgekit.variant import Compatibility, Evaluation, Manifest, Variant


def _arrays(n=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 6, 5), dtype=np.uint8), np.arange(n) % k,
            rng.integers(0, 256, (n // 2, 6, 5), dtype=np.uint8), np.arange(n // 2) % k)


# ---- data as arrays ------------------------------------------------------------------------------

def test_load_data_takes_a_tuple_a_dict_and_a_dataset():
    arrays = _arrays()
    a = load_data(arrays)
    b = load_data(list(arrays))
    c = load_data(dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    assert isinstance(a, Dataset) and a.input_shape == (6, 5, 1) and a.num_classes == 3
    assert a.x_train.dtype == np.float32 and a.x_train.max() <= 1.0 and a.name == "arrays"
    assert a.fingerprint() == b.fingerprint() == c.fingerprint()
    assert load_data(a) is a
    named = load_data({"x_train": arrays[0], "y_train": arrays[1], "x_test": arrays[2], "y_test": arrays[3],
                       "class_names": ["a", "b", "c"], "name": "mine"})
    assert named.class_names == ["a", "b", "c"] and named.name == "mine"
    assert named.fingerprint() != a.fingerprint()


def test_unlabelled_array_does_not_change_the_callers_dataset():
    ds = from_arrays(*_arrays())
    extra = np.zeros((4, 6, 5), np.uint8)
    with_u = load_data(ds, unlabelled=extra)
    assert with_u.x_unlabelled.shape == (4, 6, 5, 1) and ds.x_unlabelled is None
    assert with_u.fingerprint() != ds.fingerprint()
    with pytest.raises(EdgekitError, match="unlabelled images are 7x5x1 but the data's images are 6x5x1"):
        load_data(ds, unlabelled=np.zeros((2, 7, 5), np.uint8))


@pytest.mark.parametrize("data, match", [
    (_arrays()[:3], "got 3 items, expected 4"),
    ({"x_train": _arrays()[0]}, "is missing y_train, x_test, y_test"),
    ({**dict(zip(("x_train", "y_train", "x_test", "y_test"), _arrays())), "labels": 1}, "unknown keys labels"),
    (42, "data of type int is not understood"),
    ((np.zeros((4, 6, 5)), np.array([0, 1, 0, 1]), np.zeros((2, 6, 5)), np.array([0, 5])), "y_test has label 5"),
])
def test_bad_arrays_are_one_line_errors(data, match):
    with pytest.raises(EdgekitError, match=match) as err:
        load_data(data)
    assert "\n" not in err.value.one_line()


# ---- summary texts -------------------------------------------------------------------------------

def _variant(tmp_path, name, chain, acc=None, status="ok", error=None, compat="ok", size=211_440):
    m = Manifest(name=name, sha256="s" * 64, size_bytes=size, gzip_size_bytes=size // 2, chain=chain,
                 description=" → ".join(c["pass"] for c in chain) or "float32",
                 compatibility=Compatibility("tflite-runtime 2.14.0", compat, None if compat == "ok" else "no op FOO"))
    ev = None if acc is None and status == "ok" else Evaluation(status=status, error=error, n=10000, accuracy=acc,
                                                                 baseline="float32", agreement=0.95 if acc else None)
    return Variant(tmp_path / name, m, ev)


def test_sizes_are_decimal_kilobytes():
    assert kb(211_440) == "211.4 kB" and kb(794_336) == "794.3 kB" and kb(None) == "—"


def test_summary_rows_and_progress_texts(tmp_path):
    base = _variant(tmp_path, "float32", [], acc=0.8991)
    base.evaluation.agreement = None
    q = _variant(tmp_path, "int8", [{"pass": "ptq-int8", "params": {}}], acc=0.8998)
    bad = _variant(tmp_path, "dyn", [{"pass": "ptq-dynamic", "params": {}}], status="incompatible",
                   error="Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'", compat="incompatible")
    rows = {r["name"]: r for r in summary_rows([base, q, bad])}
    assert rows["int8"]["delta_vs_baseline_pt"] == pytest.approx(0.07) and rows["float32"]["delta_vs_baseline_pt"] == 0.0
    assert rows["dyn"]["status"] == "incompatible" and rows["dyn"]["accuracy"] is None
    assert rows["dyn"]["reason"] == "no op FOO"   # the manifest's compatibility comes first (Variant.status)
    json.dumps(list(rows.values()))
    assert evaluated_text(q) == "evaluated on 10,000 test images — accuracy 89.98%, agreement 95.0% with float32"
    assert evaluated_text(base) == "evaluated on 10,000 test images — accuracy 89.91%"
    assert evaluated_text(bad).startswith("evaluation incompatible: Didn't find op")


def test_the_baseline_is_built_first():
    rec = parse('[[variant]]\nname = "int8"\nchain = ["ptq-int8"]\n[[variant]]\nname = "f"\nchain = []\n'
                '[[variant]]\nname = "dyn"\nchain = ["ptq-dynamic"]\n')
    assert [v.name for v in _baseline_first(rec.variants, rec)] == ["f", "int8", "dyn"]
    no_base = parse('[[variant]]\nname = "a"\nchain = ["ptq-int8"]\n[[variant]]\nname = "b"\nchain = ["ptq-dynamic"]\n')
    assert [v.name for v in _baseline_first(no_base.variants, no_base)] == ["a", "b"]


# ---- progress lines vs the converter's fd redirection ---------------------------------------------

LOCK_SCRIPT = r"""
import sys, threading, time
from edgekit.passes.keras_env import quiet_native
from edgekit.optimize.run import _Serialized
from edgekit.progress import StepProgress

progress = StepProgress("optimize", total=2, plain=True)
serialized = sys.argv[1] == "serialized"
reporter = _Serialized(progress) if serialized else progress
with progress:
    with quiet_native():                       # the main thread converts a model: fds 1/2 go to a sink
        t = threading.Thread(target=reporter.done, args=("int8", "built"))
        t.start()
        time.sleep(0.5)
        print("native noise", file=sys.stderr, flush=True)
    t.join()
    reporter.done("f16", "built")
"""


@pytest.mark.parametrize("mode", ["serialized", "plain"])
def test_a_line_from_another_thread_is_not_swallowed_by_the_converter_sink(mode):
    proc = subprocess.run([sys.executable, "-c", LOCK_SCRIPT, mode], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "native noise" not in proc.stderr and "f16: built" in proc.stderr
    if mode == "serialized":
        assert "int8: built" in proc.stderr   # held until the sink was gone, then printed
    else:
        assert "int8: built" not in proc.stderr   # what happens without the lock: the line is lost


# ---- chain prefixes kept between variants / trials ------------------------------------------------

def test_a_kept_prefix_is_reused_and_the_least_recently_used_go_first(tmp_path):
    """keras_chain trains a prefix it does not hold and reuses one it does; trim_memo keeps the most
    recently used (a search keeps a few between trials)."""
    from types import SimpleNamespace

    from edgekit.optimize.chain import Builder, NoProgress

    v = parse('[[variant]]\nname = "a"\nchain = ["prune(0.5)", "cluster(8)", "ptq-int8"]\n'
              '[[variant]]\nname = "b"\nchain = ["prune(0.6)", "ptq-int8"]\n').variants
    b = Builder(SimpleNamespace(), tmp_path, NoProgress())
    b.base_model = "base"
    trained = []
    b._apply = lambda variant, step, model: trained.append(step.label()) or f"{model}+{step.label()}"
    model, _, _ = b.keras_chain(v[0])
    assert model == "base+prune(0.5)+cluster(8)" and trained == ["prune(0.5)", "cluster(8)"]
    b.keras_chain(v[1])
    assert trained[-1] == "prune(0.6)" and len(b.memo) == 3
    b.trim_memo(2)                    # the oldest, prune(0.5), goes; its child cluster(8) stays
    assert len(b.memo) == 2
    b.keras_chain(v[0])               # prune(0.5) trains again, cluster(8) is reused as it was kept
    assert trained[-1] == "prune(0.5)" and trained.count("cluster(8)") == 1
    b.trim_memo(0)
    assert b.memo == {}
