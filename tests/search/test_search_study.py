"""The study bookkeeping: which trials count, the front under budgets, the best-so-far curve."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from edgekit.search import study as study_mod


def _t(number, state, values=None, feasible=True, **attrs):
    metrics = attrs.pop("metrics", {})
    t = create_trial(state=state, values=values, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                     user_attrs={"feasible": feasible, "metrics": metrics, **attrs})
    t.number = number
    return t


def test_counted_trials_and_the_front():
    trials = [
        _t(0, TrialState.COMPLETE, [30e3, 2.0], metrics={"size": 30e3, "latency": 2.0}),
        _t(1, TrialState.COMPLETE, [20e3, 3.0], metrics={"size": 20e3, "latency": 3.0}),
        _t(2, TrialState.COMPLETE, [10e3, 1.0], feasible=False, metrics={"size": 10e3, "latency": 1.0}),  # over budget
        _t(3, TrialState.COMPLETE, [40e3, 2.5], metrics={"size": 40e3, "latency": 2.5}),                  # dominated by 0
        _t(4, TrialState.PRUNED),
        _t(5, TrialState.FAIL, error="ValueError: boom"),
        _t(6, TrialState.FAIL, error="worker h:1 was killed during the trial"),
        _t(7, TrialState.FAIL, duplicate_of=1),
        _t(8, TrialState.COMPLETE, [20e3, 3.0], metrics={"size": 20e3, "latency": 3.0}),                  # tie with 1
        _t(9, TrialState.FAIL, error="out of memory: killed by the 512 MB memory cap of device profile a7"),
        _t(10, TrialState.FAIL, error="worker h:2 gone", killed=True),
    ]
    # a variant the device's memory cap killed is the trial's own failure (counted); a dead worker's is not
    assert [t.number for t in trials if study_mod.counted(t)] == [0, 1, 2, 3, 4, 5, 8, 9]
    assert [t.number for t in study_mod.front(trials, ["size", "latency"])] == [0, 1]
    assert [t.number for t in study_mod.front(trials, ["size"])] == [1]
    assert study_mod.best_so_far(trials, "size") == [(0, 30e3), (1, 20e3), (2, 20e3), (3, 20e3), (4, 20e3),
                                                     (5, 20e3), (8, 20e3), (9, 20e3)]


def test_a_chain_is_a_duplicate_of_a_finished_running_or_failed_trial_but_not_of_a_killed_one():
    st = optuna.create_study()
    for state, key, attrs in [(TrialState.COMPLETE, "a", {}), (TrialState.FAIL, "b", {"error": "ValueError: boom"}),
                              (TrialState.FAIL, "c", {"error": "worker h:1 was killed during the trial", "killed": True}),
                              (TrialState.RUNNING, "d", {}), (TrialState.FAIL, "e", {"duplicate_of": 0})]:
        st.add_trial(create_trial(state=state, values=[1.0] if state == TrialState.COMPLETE else None,
                                  user_attrs={"chain_key": key, **attrs}))
    assert [study_mod.duplicate_of(st, 99, k) for k in "abcde"] == [0, 1, None, 3, None]
    assert study_mod.duplicate_of(st, 0, "a") is None   # not of itself


def test_accuracy_is_maximised():
    trials = [_t(0, TrialState.COMPLETE, [0.8], metrics={"accuracy": 0.8}),
              _t(1, TrialState.COMPLETE, [0.9], metrics={"accuracy": 0.9})]
    assert [t.number for t in study_mod.front(trials, ["accuracy"])] == [1]


def test_storage_urls_and_redaction(tmp_path):
    assert study_mod.storage_url(None, "/o/search.sqlite") == "sqlite:////o/search.sqlite"
    assert study_mod.storage_url("postgresql://u:pw@h/db", "") == "postgresql+psycopg2://u:pw@h/db"
    assert study_mod.redact("postgresql+psycopg2://u:pw@h:5432/db") == "postgresql+psycopg2://u:***@h:5432/db"
    import pytest

    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError):
        study_mod.storage_url("mysql://u@h/db", "")
    storage = study_mod.open_storage(f"sqlite:///{tmp_path / 's.sqlite'}")
    st = study_mod.create_study(storage, "s", ["size"], seed=0, trials=4)
    assert st.directions == [optuna.study.StudyDirection.MINIMIZE]
    with pytest.raises(EdgekitError, match="other objectives"):
        study_mod.create_study(storage, "s", ["accuracy"], seed=0, trials=4)


def test_a_chain_is_judged_before_its_export_unless_qat_is_its_fine_tuning():
    """The accuracy-budget pruning looks at the Keras model only when it says what the variant will score."""
    from edgekit.optimize.recipe import parse
    from edgekit.search.trial import judged_before_export

    chains = {"ptq": '["ptq-int8"]', "prune-ptq": '["prune(0.8)", "ptq-int8"]', "prune-qat": '["prune(0.8)", "qat"]',
              "pcqat": '"prune(0.8) -> cluster(16, epochs=0) -> qat"',
              "pc1qat": '"prune(0.8) -> cluster(16, epochs=1) -> qat"',
              "pc0ptq": '"prune(0.8) -> cluster(16, epochs=0) -> ptq-int8"'}
    rec = parse("".join(f'[[variant]]\nname = "{n}"\nchain = {c}\n' for n, c in chains.items()))
    judged = {v.name: judged_before_export(v) for v in rec.variants}
    assert judged == {"ptq": False, "prune-ptq": True, "prune-qat": True, "pcqat": False, "pc1qat": True,
                      "pc0ptq": True}


def test_the_accuracy_budget_holds_back_the_margin_on_the_validation_split():
    """A trial 0.8 pt below float32 on validation is over a 1-pt budget with the 0.3-pt margin; the margin
    never takes more than half the budget."""
    from edgekit.search import space
    from edgekit.search.trial import Budget

    sp = space.load(None)
    assert sp.accuracy_margin == 0.003
    assert space.parse('[[family]]\nname = "x"\nchain = []\n').accuracy_margin == space.DEFAULT_MARGIN
    assert space.parse('[settings]\naccuracy_margin = 0\n[[family]]\nname = "x"\nchain = []\n').accuracy_margin == 0
    b = Budget(["size"], max_accuracy_drop=0.01, margin=sp.accuracy_margin)
    assert abs(b.validation_drop - 0.007) < 1e-12
    assert b.constraints({"drop": 0.008})["accuracy_drop"] > 0
    assert b.constraints({"drop": 0.0065})["accuracy_drop"] <= 0
    assert Budget(["size"], max_accuracy_drop=0.004, margin=0.003).validation_drop == 0.002
    assert Budget(["size"], max_accuracy_drop=None, margin=0.003).constraints({"drop": 0.5}) == {}
    # the report says both numbers; a search.json from before the margin has none
    from edgekit.report.search_section import _budget_text

    assert _budget_text(b.as_dict()) == "accuracy drop ≤ 1 pt (≤ 0.7 pt on the validation split: 0.3 pt margin)"
    old = {k: v for k, v in b.as_dict().items() if k != "margin"}
    assert _budget_text(old) == "accuracy drop ≤ 1 pt"


def test_a_new_study_gives_every_family_one_of_its_first_trials(tmp_path):
    storage = study_mod.open_storage(f"sqlite:///{tmp_path / 's.sqlite'}")
    fams = ["pruned", "clustered", "student"]
    st = study_mod.create_study(storage, "s", ["size"], seed=0, trials=20, families=fams)
    firsts = []
    for _ in range(4):
        t = st.ask()
        firsts.append(t.suggest_categorical("family", fams))
        st.tell(t, 1.0)
    assert firsts[:3] == fams                           # queued, in order; the fourth is the sampler's
    # re-opened (a resumed run, a second worker): nothing queued again
    again = study_mod.create_study(storage, "s", ["size"], seed=0, trials=20, families=fams)
    assert not [t for t in again.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    assert len(again.get_trials(deepcopy=False)) == 4
    # one family: nothing to balance
    one = study_mod.create_study(storage, "o", ["size"], seed=0, trials=20, families=["pruned"])
    assert one.get_trials(deepcopy=False) == []


def test_a_sampler_stuck_on_a_tried_point_gives_way_to_random_draws_until_the_space_is_exhausted():
    from edgekit.search import space

    sp = space.parse('[[family]]\nname = "q"\nchain = [{ pass = ["ptq-dynamic", "ptq-float16", "ptq-int8"], '
                     'calibration = { choices = [64, 256] } }]\n'
                     '[[family]]\nname = "c"\nchain = [{ pass = "cluster", clusters = { choices = [4, 8] } }, '
                     '{ pass = "ptq-float16" }]\n')
    q_points = {"ptq-dynamic", "ptq-float16", "ptq-int8/64", "ptq-int8/256"}
    # TPE settled on one point: it proposes it every time
    stuck = optuna.samplers.PartialFixedSampler({"family": "q", "q.0.pass": "ptq-float16"},
                                                optuna.samplers.TPESampler(seed=0))
    st = optuna.create_study(sampler=stuck)
    sampling = study_mod.Sampling(st, seed=0)
    tried: list[str] = []
    draws = 0
    while True:
        t = st.ask()
        family, chain = sp.sample(t)
        step = chain[0]
        point = family + ":" + step["pass"] + (f"/{step['calibration']}" if step["pass"] == "ptq-int8" else "") + (
            f"/{step['clusters']}" if family == "c" else "")
        draws += 1
        dup = point in tried
        st.tell(t, state=TrialState.FAIL) if dup else st.tell(t, 1.0)
        if not dup:
            tried.append(point)
        if not sampling.record(dup, family):
            break
        # after a new point the guided sampler draws again; after a duplicate, a random one
        assert (st.sampler is stuck) == (not dup)
        assert draws < 500
    assert len(tried) == 6                  # the stuck sampler alone would never have left q:ptq-float16
    # the family TPE chose is explored before the others: every point of q comes before any of c
    assert {p.split(":", 1)[1] for p in tried[:4]} == q_points
    assert sampling.misses == study_mod.RANDOM_TRIES


def test_a_study_keeps_its_budget_device_and_inputs(tmp_path):
    import pytest

    from edgekit.errors import EdgekitError

    storage = study_mod.open_storage(f"sqlite:///{tmp_path / 's.sqlite'}")
    terms = {"budget": {"objectives": ["size"], "max_accuracy_drop": 0.01}, "latency and memory from": None}
    study_mod.check_terms(storage, terms, "s")   # no study yet: nothing to check
    st = study_mod.create_study(storage, "s", ["size"], seed=0, trials=4)
    study_mod.check_terms(st, terms)
    study_mod.check_terms(st, terms)   # the same again: a resumed run, another worker
    inputs = {**terms, "inputs": "space, seed, model and data 0123"}
    study_mod.check_terms(storage, inputs, "s")   # a term the study has not kept yet: accepted...
    study_mod.check_terms(st, inputs)                # ...and kept from now on
    assert st.user_attrs["terms"] == inputs
    for asks, words in [({"budget": {"objectives": ["size"], "max_accuracy_drop": 0.005}},
                         "was made with budget objectives ['size'], max_accuracy_drop 0.01; this run asks for "
                         "objectives ['size'], max_accuracy_drop 0.005"),
                        ({"latency and memory from": "a phone (measured)"},
                         "latency and memory from none; this run asks for a phone"),
                        ({"inputs": "space, seed, model and data 4567"}, "inputs space, seed, model and data 0123")]:
        for where in [(storage, "s"), (st,)]:   # before any training (the storage), and on the study
            with pytest.raises(EdgekitError) as err:
                study_mod.check_terms(where[0], {**inputs, **asks}, *where[1:])
            assert words in err.value.one_line()


def test_a_database_of_another_optuna_schema_is_one_line(tmp_path):
    import sqlite3

    import pytest

    from edgekit.errors import EdgekitError

    db = tmp_path / "s.sqlite"
    study_mod.open_storage(f"sqlite:///{db}")
    with sqlite3.connect(db) as c:   # as if an older Optuna had made the tables
        c.execute("UPDATE alembic_version SET version_num = 'v2.0.0.a'")
    with pytest.raises(EdgekitError, match="cannot use the study database sqlite:///.*no longer compatible") as err:
        study_mod.open_storage(f"sqlite:///{db}")
    assert "optuna storage upgrade" in err.value.one_line()


def test_the_search_section_labels_estimated_latency_everywhere():
    from edgekit.report.search_section import render_doc

    est = {"latency": 5.6, "latency_kind": "est.", "size": 70e3, "accuracy": 0.93}
    doc = {"schema": "edgekit.search/1", "study": "s", "finished": 2, "target": 2,
           "budget": {"objectives": ["latency"], "max_accuracy_drop": 0.01, "max_latency": 20.0, "margin": 0.003},
           "baseline": {"size": 1.6e6, "accuracy": 0.94, "latency": 21.8, "latency_kind": "est."},
           "validation": {"n": 6000}, "best_so_far": {"latency": [[0, 8.2], [1, 5.6]]},
           "trials": [{"number": 0, "state": "complete", "feasible": True, "metrics": {**est, "latency": 8.2}},
                      {"number": 1, "state": "complete", "feasible": True, "metrics": est}],
           "front": [{"number": 1, "variant": "trial-0001", "description": "d", "metrics": est, "ratio": 22.9,
                      "test_accuracy": 0.93, "test_drop": 0.008}]}
    page = render_doc(doc)
    assert "est. latency ≤ 20 ms" in page
    assert "best-so-far est. latency within budget" in page and "trial 1: est. 5.6 ms" in page
    axis = [ln for ln in page.split("<text ") if 'text-anchor="end"' in ln]
    assert axis and all("est. " in ln for ln in axis)


def test_a_full_disk_or_a_lost_device_stops_the_search_instead_of_failing_every_trial():
    import errno

    from edgekit.bench.api import BenchIncomplete
    from edgekit.search.trial import not_the_chains

    assert not_the_chains(OSError(errno.ENOSPC, "No space left on device"))
    assert not_the_chains(OSError(errno.EROFS, "Read-only file system"))
    assert not_the_chains(BenchIncomplete("device emulator-5554 lost", "reconnect it", 3, [], None))
    assert not not_the_chains(ValueError("tfmot cannot prune this layer"))   # the chain's own: counted
    assert not not_the_chains(OSError(errno.ENOENT, "no such file"))
