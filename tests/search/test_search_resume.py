"""A search killed mid-trial continues with the same command: only the remaining trials run, each trial
is an ordinary variant (manifest names study and trial), the front is evaluated on the test set, and
`edgekit report` shows the Search section."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import EDGEKIT, ROOT, run_edgekit

pytestmark = pytest.mark.slow


def _trials(db):
    import sqlite3

    import optuna

    # the search may still be creating its tables: read only once they are all there (RDBStorage would
    # otherwise create them itself, racing the search's own CREATE TABLE)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"studies", "trials", "trial_intermediate_values", "alembic_version"} <= tables:
        return []
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if not names:
        return []
    return optuna.load_study(study_name=names[0], storage=storage).get_trials(deepcopy=True)


def test_killed_search_resumes_with_the_remaining_trials_only(tmp_path, tiny_model, small_npz, tiny_space):
    out = tmp_path / "out"
    args = ["search", tiny_model, "--data", small_npz, "--space", tiny_space, "--out", out, "--trials", "2",
            "--max-accuracy-drop", "50pp", "--seed", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([*EDGEKIT, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    db = out / "search.sqlite"
    killed_number = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            trials = _trials(db) if db.exists() else []
            done = [t for t in trials if t.state.name == "COMPLETE"]
            running = [t for t in trials if t.state.name == "RUNNING" and "chain_key" in t.user_attrs]
            if done and running:
                killed_number = running[0].number
                os.killpg(proc.pid, signal.SIGKILL)   # mid-trial: its chain is sampled and training
                break
            time.sleep(0.3)
    finally:
        if proc.poll() is None and killed_number is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed_number is not None, "the search never reached a second trial:\n" + proc.stdout.read().decode()[-3000:]
    before = {t.number: t for t in _trials(db)}
    finished_before = {n: t for n, t in before.items() if t.state.name in ("COMPLETE", "PRUNED")}
    manifests = {n: (out / "variants" / t.user_attrs["variant"] / "manifest.json").read_text()
                 for n, t in finished_before.items() if "variant" in t.user_attrs}
    assert len(finished_before) < 2
    # as if the kill had come after the trial's variant was written: a complete folder no trial stands for
    import shutil

    from edgekit.variant import Variant

    src = next(d for d in (out / "variants").iterdir() if d.name.startswith("trial-") or d.name == "float32")
    orphan = out / "variants" / f"trial-{killed_number:04d}"
    if not orphan.exists():   # (the kill may have come after the variant was written: then it is one already)
        shutil.copytree(src, orphan)
    m = json.loads((orphan / "manifest.json").read_text())
    m.update(study=Variant.load(src).manifest.study, trial=killed_number)
    (orphan / "manifest.json").write_text(json.dumps(m))

    again = run_edgekit(*args, "--json", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"trial {killed_number} was running in a killed worker" in again.stderr
    after = _trials(db)
    counted = [t for t in after if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 2                                   # the remaining trial only, no more
    for n, t in finished_before.items():                       # finished trials were not run again
        now = next(x for x in after if x.number == n)
        assert now.state == t.state and now.datetime_complete == t.datetime_complete
    for n, text in manifests.items():
        assert (out / "variants" / before[n].user_attrs["variant"] / "manifest.json").read_text() == text
    killed = next(t for t in after if t.number == killed_number)
    assert killed.state.name == "FAIL" and "killed" in killed.user_attrs["error"]
    retried = [t for t in counted if t.number > killed_number and t.params == killed.params]
    assert retried, "the killed trial's parameters were not run again"
    assert all("error" not in t.user_attrs for t in retried)  # the re-run does not inherit the kill
    assert not orphan.exists() and not [d for d in (out / "variants").iterdir() if d.name.startswith(".")]
    keys = [t.user_attrs["chain_key"] for t in counted]
    assert len(keys) == len(set(keys))

    doc = json.loads(again.stdout)
    assert doc["finished"] == 2 and doc["front"], [(t["state"], t["feasible"], t["suspect"]) for t in doc["trials"]]
    from edgekit.variant import load_variants

    variants = {v.name: v for v in load_variants(out)}
    for t in counted:
        if t.state.name == "COMPLETE":
            m = variants[t.user_attrs["variant"]].manifest
            assert (m.study, m.trial) == (doc["study"], t.number)
    for row in doc["front"]:                                  # the test set, once, for the front
        v = variants[row["variant"]]
        assert v.evaluation is not None and v.evaluation.n == 200 and row["test_accuracy"] == v.evaluation.accuracy
    assert variants["float32"].evaluation.n == 200
    assert doc["validation"]["n"] == 160                      # 20 % of the 800 training images

    page = tmp_path / "report.html"
    rep = run_edgekit("report", out, "--format", "html", "-o", page, timeout=300)
    assert rep.returncode == 0, rep.stderr
    html = page.read_text()
    assert 'id="search"' in html and 'class="best-so-far"' in html and "search-front" in html


def test_sigterm_mid_search_is_one_line_and_the_same_command_finishes_the_rest(tmp_path, tiny_model, small_npz, tiny_space):
    out = tmp_path / "out"
    args = ["search", tiny_model, "--data", small_npz, "--space", tiny_space, "--out", out, "--trials", "2",
            "--max-accuracy-drop", "50pp", "--seed", "5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([*EDGEKIT, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    db = out / "search.sqlite"
    sent = False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            trials = _trials(db) if db.exists() else []
            if [t for t in trials if t.state.name == "COMPLETE"] and \
                    [t for t in trials if t.state.name == "RUNNING" and "chain_key" in t.user_attrs]:
                proc.send_signal(signal.SIGTERM)
                sent = True
                break
            time.sleep(0.3)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sent, "the search never reached a second trial"
    assert proc.returncode == 143, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1 and "terminated (SIGTERM)" in lines[0] and "Traceback" not in stderr, stderr[-3000:]
    before = {t.number: t for t in _trials(db) if t.state.name == "COMPLETE"}
    assert len(before) == 1 and not [t for t in _trials(db) if t.state.name == "RUNNING"]
    again = run_edgekit(*args, "--json", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _trials(db)
    assert len([t for t in after if t.state.name in ("COMPLETE", "PRUNED")]) == 2
    for n, t in before.items():                                 # finished before: not run again
        assert next(x for x in after if x.number == n).datetime_complete == t.datetime_complete
