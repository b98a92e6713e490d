"""A trial whose variant trips a numerical-fault check completes but is over budget: never on the front."""

from __future__ import annotations

import json

import pytest

from conftest import run_edgekit

pytestmark = pytest.mark.slow


def test_suspect_trials_are_kept_out_of_the_front(tmp_path, tiny_model, small_npz, tiny_space):
    # the default thresholds (no [settings.checks]): the near-chance tiny model's children disagree with it
    space = tmp_path / "default-checks.toml"
    text = tiny_space.read_text()
    start = text.index("[settings.checks]")
    space.write_text(text[:start] + text[text.index("[[family]]"):])
    r = run_edgekit("search", tiny_model, "--data", small_npz, "--space", space, "--out", tmp_path / "o",
                    "--trials", "2", "--max-accuracy-drop", "50pp", "--seed", "3", "--json", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    suspect = [t for t in doc["trials"] if t["suspect"]]
    assert suspect, [(t["number"], t["metrics"].get("agreement")) for t in doc["trials"]]
    for t in suspect:
        assert t["state"] == "complete" and t["feasible"] is False
        assert all("agreement" in s or "KL" in s or "class" in s for s in t["suspect"]), t["suspect"]
    front = {row["number"] for row in doc["front"]}
    assert not front & {t["number"] for t in suspect}
