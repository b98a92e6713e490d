"""Each numerical-fault kind, as a real broken .tflite: host evaluation marks it suspect with the right
reason, and in a results directory the report keeps it off the front and the recommendation, and the
gate fails it unless the rule says ``allow_suspect = true``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _broken_tflite import KINDS, broken_models
from edgekit.digest import sha256_file
from edgekit.gate.api import gate
from edgekit.optimize.data import load_data
from edgekit.optimize.evaluate import evaluate, write_eval
from edgekit.report.build import build_report
from edgekit.report.render import render_json
from edgekit.report.synthetic import manifest
from edgekit.results import load_results
from edgekit.variant import load_variants


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """{name: (Evaluation, probabilities)} for the parent and every broken model, and the data."""
    d = broken_models(tmp_path_factory.getbasetemp())
    ds = load_data(str(d / "data.npz"))
    base_ev, base = evaluate(d / "parent.tflite", ds, baseline="parent")
    out = {"parent": (base_ev, base)}
    for name in ("honest", *KINDS):
        out[name] = evaluate(d / f"{name}.tflite", ds, baseline_outputs=base, baseline="parent")
    return d, ds, out


@pytest.fixture(scope="module")
def results_dir(evaluated, tmp_path_factory):
    """OUT/variants with the real models: parent (float, 9 kB), honest (5 kB), each broken one (1 kB)."""
    d, _, evs = evaluated
    out = tmp_path_factory.mktemp("suspect-out")
    for name, (ev, _) in evs.items():
        vd = out / "variants" / name
        vd.mkdir(parents=True)
        shutil.copy(d / f"{name}.tflite", vd / "model.tflite")
        m = manifest(name, 9000 if name == "parent" else 5000 if name == "honest" else 1000,
                     chain=[] if name == "parent" else None)
        m["sha256"] = sha256_file(vd / "model.tflite")
        (vd / "manifest.json").write_text(json.dumps(m))
        write_eval(vd, ev)
    return out


def test_the_parent_and_an_honest_child_trip_nothing(evaluated):
    _, _, evs = evaluated
    for name in ("parent", "honest"):
        ev = evs[name][0]
        assert ev.status == "ok" and ev.suspect == [] and ev.checks["tripped"] == [], name
    assert evs["honest"][0].agreement > 0.9 and evs["honest"][0].checks["kl"] < 0.25


@pytest.mark.parametrize("name", list(KINDS))
def test_each_fault_kind_is_suspect_with_its_reason(evaluated, results_dir, name):
    _, _, evs = evaluated
    ev = evs[name][0]
    kind = KINDS[name]
    assert ev.status == "ok"        # it ran: the fault is in its numbers
    assert kind in ev.checks["tripped"]
    assert len(ev.suspect) == len(ev.checks["tripped"])
    (v,) = [v for v in load_variants(results_dir) if v.name == name]
    assert v.status == "suspect"
    words = {"nonfinite": "NaN/Inf outputs", "constant": "constant across inputs", "all_zero": "every output is 0",
             "one_class": "of predictions", "agreement": "top-1 agreement with the parent", "kl": "KL(parent || variant)"}
    assert words[kind] in v.reason


def test_only_the_tripped_kind_where_the_fault_is_one_thing(evaluated):
    _, _, evs = evaluated
    assert evs["shifted"][0].checks["tripped"] == ["kl"]          # same top-1 everywhere, probabilities moved
    assert evs["shifted"][0].agreement == 1.0
    assert evs["zero"][0].checks["all_zero"] and "constant" not in evs["zero"][0].checks["tripped"]


def test_nan_rows_never_count_as_correct(evaluated):
    d, ds, evs = evaluated
    ev, probs = evs["nan"]
    x = np.load(d / "data.npz")["x_test"]
    bad = x[:, 0, 0] / 255.0 < 0.5          # the rows the model makes NaN (sqrt of a negative number)
    assert ev.checks["nonfinite_rows"] == int(bad.sum()) > 0
    assert np.isnan(probs[bad]).all() and np.isfinite(probs[~bad]).all()
    assert ev.accuracy == pytest.approx((~bad).mean())   # the parent is 100 % right, the NaN rows 0 %
    assert np.array(ev.confusion_matrix).sum() == (~bad).sum()
    assert ev.agreement == pytest.approx((~bad).mean())
    assert ev.mean_abs_diff is not None and np.isfinite(ev.mean_abs_diff)


def test_thresholds_are_arguments(evaluated):
    d, ds, evs = evaluated
    base = evs["parent"][1]
    loose, _ = evaluate(d / "shifted.tflite", ds, baseline_outputs=base, baseline="parent", checks={"max_kl": 5.0})
    assert loose.suspect == [] and loose.checks["kl"] == pytest.approx(evs["shifted"][0].checks["kl"])
    assert loose.checks["thresholds"]["max_kl"] == 5.0 and evs["shifted"][0].checks["thresholds"]["max_kl"] == 0.25
    strict, _ = evaluate(d / "honest.tflite", ds, baseline_outputs=base, baseline="parent", checks={"min_agreement": 0.999})
    assert strict.checks["tripped"] == ["agreement"]


def test_report_keeps_suspect_variants_off_the_front_and_unrecommended(results_dir):
    results = load_results(results_dir)
    report = build_report(results, axes=["size", "accuracy"], limits={"max_size": "100 kB"}, objective="accuracy")
    suspect = set(KINDS)
    assert {r.name for r in results.variants if r.status == "suspect"} == suspect
    assert not suspect & set(report.front)
    assert set(report.front) <= {"parent", "honest"} and "honest" in report.front
    # shifted is the smallest and 100 % accurate: without the checks it would top the front and be recommended
    assert report.recommendation["variant"] in ("parent", "honest")
    data = json.loads(render_json(report))
    rows = {r["name"]: r for r in data["variants"]}
    for name in suspect:
        assert rows[name]["status"] == "suspect" and rows[name]["reason"]
    assert {e["name"] for e in data["excluded"] if e["status"] == "suspect"} == suspect
    assert data["counts"]["suspect"] == len(suspect)
    host = {r["name"]: r["host"] for r in data["results"]["variants"]}
    assert host["shifted"]["suspect"] and host["honest"]["suspect"] == []


def test_gate_fails_every_suspect_variant_unless_the_rule_allows_it(results_dir):
    rule = {"variants": "*", "max_size": "100 kB", "min_accuracy": 0.0}
    g = gate(results_dir, {"rule": [rule]})
    failed = {c.variant for c in g.failed}
    assert failed == set(KINDS) and not g.passed
    msg = next(c.message for c in g.failed if c.variant == "shifted")
    assert msg.startswith("suspect: output distribution shifted") and "allow_suspect = true" in msg
    assert gate(results_dir, {"rule": [{**rule, "allow_suspect": True}]}).passed


def test_device_predictions_that_disagree_with_the_host_are_marked(evaluated, tmp_path):
    """bench's host_check: the host's tflite-runtime on the same examples vs what the device returned."""
    from edgekit.bench.evalset import EvalSet
    from edgekit.bench.runner import host_check
    from edgekit.bench.targets import Target
    from edgekit.digest import sha256_file as sha

    d, ds, evs = evaluated
    x = tmp_path / "x.npy"
    np.save(x, ds.x_test)
    ev = EvalSet(x, np.asarray(ds.y_test), sha(x), len(ds.y_test))
    target = Target.from_file(d / "parent.tflite")
    same = host_check(target, ev, evs["parent"][1])
    assert same["agreement_with_host"] == 1.0 and "suspect" not in same
    other = host_check(target, ev, evs["disagree"][1])     # as if the device computed something else
    assert other["agreement_with_host"] < 0.5
    assert other["suspect"] == [f"top-1 agreement with the host {100 * other['agreement_with_host']:.1f}% < 90.0%"]
