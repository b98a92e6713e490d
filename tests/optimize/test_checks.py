"""edgekit.checks on plain arrays: thresholds as settings, each check's edge, and the suspect status."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.checks import DEFAULTS, Thresholds, agreement_reason, check_outputs, mean_kl, thresholds
from edgekit.errors import EdgekitError
from edgekit.optimize.recipe import RecipeError, parse
from edgekit.report.synthetic import evaluation, manifest
from edgekit.variant import Variant

RNG = np.random.default_rng(0)


def _probs(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


PARENT = _probs(RNG.normal(0, 3, (200, 10)))


def test_thresholds_default_mapping_and_object():
    assert thresholds(None) == Thresholds() and Thresholds().to_dict() == DEFAULTS
    t = thresholds({"min_agreement": 0.5, "max_kl": 1})
    assert (t.min_agreement, t.max_kl, t.max_class_share) == (0.5, 1.0, DEFAULTS["max_class_share"])
    assert thresholds(t) is t


@pytest.mark.parametrize("value, words", [
    ({"min_agreemnt": 0.5}, "unknown check threshold 'min_agreemnt'"),
    ({"min_agreement": 1.5}, "min_agreement must be a number from 0 to 1, not 1.5"),
    ({"max_class_share": True}, "max_class_share must be a number from 0 to 1, not True"),
    ({"max_kl": -1}, "max_kl must be a number ≥ 0, not -1"),
    ({"max_kl": "big"}, "max_kl must be a number ≥ 0, not 'big'"),
    ({"min_output_std": float("nan")}, "min_output_std must be a number ≥ 0"),
    (0.9, "must be a table of thresholds"),
])
def test_a_bad_threshold_is_one_line(value, words):
    with pytest.raises(EdgekitError) as exc:
        thresholds(value, "recipe r.toml: [settings.checks]")
    assert words in exc.value.one_line() and "\n" not in exc.value.one_line()
    assert exc.value.one_line().startswith("recipe r.toml: [settings.checks]")


VARIANTS = '[[variant]]\nname = "float32"\nchain = []\n'


def test_recipe_settings_checks_table():
    rec = parse('[settings]\nseed = 1\n[settings.checks]\nmin_agreement = 0.8\nmax_kl = 0.5\n' + VARIANTS, "r.toml")
    assert rec.settings["checks"] == {"min_agreement": 0.8, "max_kl": 0.5}
    assert thresholds(rec.settings["checks"]).min_agreement == 0.8
    with pytest.raises(RecipeError, match=r"recipe r.toml: \[settings.checks\]: max_class_share must be a number from 0 to 1"):
        parse('[settings.checks]\nmax_class_share = 2\n' + VARIANTS, "r.toml")


def test_a_bad_recipe_threshold_exits_2_in_one_line_and_writes_nothing(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[settings.checks]\nmin_agreement = "high"\n' + VARIANTS)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "edgekit", "optimize", "--recipe", str(recipe), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    text = (proc.stdout + proc.stderr).strip()
    assert "min_agreement must be a number from 0 to 1, not 'high'" in text and "Traceback" not in text
    assert not out.exists()


def test_honest_outputs_trip_nothing():
    child = _probs(np.log(PARENT) + RNG.normal(0, 0.05, PARENT.shape))
    r = check_outputs(child, child, PARENT)
    assert r.tripped == [] and r.reasons == [] and not r.suspect
    assert r.scores["agreement"] > 0.95 and r.scores["kl"] < 0.01


def test_without_a_parent_only_the_output_checks_run():
    r = check_outputs(np.full((50, 10), 0.1), np.full((50, 10), 0.1), None)
    assert r.tripped == ["constant"] and r.scores["agreement"] is None and r.scores["kl"] is None
    assert check_outputs(PARENT, PARENT, None).tripped == []


def test_inf_counts_as_nonfinite_and_nan_rows_disagree():
    raw = PARENT.copy()
    raw[:10, 0] = np.inf
    raw[10:20, 3] = np.nan
    probs = raw.copy()
    probs[:20] = np.nan
    r = check_outputs(raw, probs, PARENT)
    assert r.scores["nonfinite_rows"] == 20 and r.tripped[0] == "nonfinite"
    assert r.scores["agreement"] == pytest.approx(0.9)       # the 20 bad rows of 200 disagree
    assert r.reasons[0] == "NaN/Inf outputs for 20 of 200 examples"
    assert np.isfinite(r.scores["kl"])


def test_one_class_needs_a_parent_that_spreads_its_predictions():
    always0 = PARENT.copy()
    always0[:, 0] += 1.0
    always0 /= always0.sum(axis=1, keepdims=True)
    assert "one_class" in check_outputs(always0, always0, PARENT).tripped
    # a parent that itself puts everything in class 0: the child doing the same is no evidence
    assert check_outputs(always0, always0, always0).tripped == []


def test_a_single_example_is_not_constant():
    assert check_outputs(PARENT[:1], PARENT[:1], PARENT[:1]).tripped == []


def test_kl_clips_zeros():
    p = np.array([[0.5, 0.5, 0.0]])
    q = np.array([[1.0, 0.0, 0.0]])
    assert np.isfinite(mean_kl(p, q)) and mean_kl(p, p) == pytest.approx(0.0, abs=1e-12)


def test_agreement_reason():
    assert agreement_reason(0.95) is None and agreement_reason(None) is None
    assert agreement_reason(0.5, what="the host") == "top-1 agreement with the host 50.0% < 90.0%"
    assert agreement_reason(0.5, {"min_agreement": 0.4}) is None


def _variant(tmp_path, ev: dict | None, **man) -> Variant:
    d = tmp_path / "v"
    d.mkdir(exist_ok=True)
    (d / "manifest.json").write_text(json.dumps(manifest("v", 1000, **man)))
    if ev is not None:
        (d / "eval.json").write_text(json.dumps(ev))
    return Variant.load(d)


def test_variant_status_suspect_and_what_comes_first(tmp_path):
    ev = {**evaluation("v", 0.5), "suspect": ["every output is 0", "top-1 agreement with the parent 10.0% < 90.0%"]}
    v = _variant(tmp_path, ev)
    assert v.status == "suspect" and v.reason == "every output is 0; top-1 agreement with the parent 10.0% < 90.0%"
    assert v.accuracy == 0.5
    assert _variant(tmp_path, ev, status="incompatible", reason="op X").status == "incompatible"
    assert _variant(tmp_path, {**ev, "status": "failed", "error": "crash"}).status == "failed"
    assert _variant(tmp_path, evaluation("v", 0.5)).status == "ok"            # an eval.json from before the checks
    assert _variant(tmp_path, {**evaluation("v", 0.5), "suspect": None}).status == "ok"
    v.evaluation.suspect = []
    v.set_evaluation(v.evaluation)
    assert v.status == "ok"


def test_optimize_summary_shows_suspect(tmp_path):
    from rich.console import Console

    from edgekit.optimize.summary import evaluated_text, print_summary, summary_rows

    v = _variant(tmp_path, {**evaluation("v", 0.5, baseline="v"), "suspect": ["every output is 0"]})
    (row,) = summary_rows([v])
    assert (row["status"], row["reason"]) == ("suspect", "every output is 0")
    assert evaluated_text(v).endswith("(suspect: every output is 0)")
    console = Console(record=True, width=200)
    print_summary(console, [row], tmp_path)
    assert "suspect: every output is 0" in console.export_text()
