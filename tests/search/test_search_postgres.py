"""Two workers on one study in a real PostgreSQL server: N trials in total, no parameters twice, one front."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import EDGEKIT, ROOT

pytestmark = pytest.mark.slow


def test_two_workers_share_one_study(tmp_path, tiny_model, small_npz, tiny_space, postgres_url):
    n = 3
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = []
    for w in ("a", "b"):   # each worker its own OUT (as on two machines), one study in the database
        args = ["search", tiny_model, "--data", small_npz, "--space", tiny_space, "--out", tmp_path / w,
                "--trials", str(n), "--max-accuracy-drop", "50pp", "--storage", postgres_url, "--study", "shared"]
        procs.append(subprocess.Popen([*EDGEKIT, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="shared", storage=postgres_url.replace("postgresql://", "postgresql+psycopg2://"))
    trials = study.get_trials()
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == n                                            # N in total, not N each
    assert not [t for t in trials if t.state.name == "RUNNING"]
    params = [json.dumps(t.params, sort_keys=True) for t in counted]
    assert len(params) == len(set(params))                              # no parameters twice
    keys = [t.user_attrs["chain_key"] for t in counted]
    assert len(keys) == len(set(keys))
    workers = {t.user_attrs["worker"] for t in counted}
    assert len(workers) == 2, f"one worker ran every trial: {workers}"

    docs = [json.loads((tmp_path / w / "search.json").read_text()) for w in ("a", "b")]
    fronts = [[(r["number"], r["metrics"]["size"]) for r in d["front"]] for d in docs]
    assert fronts[0] == fronts[1] and fronts[0]                         # both read the same front
    for d in docs:
        assert d["finished"] == n and d["study"] == "shared" and "***" not in d["storage"]
    # each front member is an ordinary variant in the OUT of the worker that made it, tested once there
    for r in docs[0]["front"]:
        here = [w for w, d in zip("ab", docs) for row in d["front"] if row["number"] == r["number"] and row["test_accuracy"] is not None]
        assert len(here) == 1
        assert (tmp_path / here[0] / "variants" / r["variant"] / "eval.json").exists()
