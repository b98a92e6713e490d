"""Search spaces: the built-in one is valid; bad spaces are refused before any training, naming the problem."""

from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError
from edgekit.search import space


def test_the_default_space_is_valid_and_covers_every_technique():
    sp = space.load(None)
    names = {f.name for f in sp.families}
    assert {"pruned", "structured", "clustered", "quantised", "student"} <= names
    passes = {p for f in sp.families for s in f.steps for p in s.passes}
    assert {"prune", "prune-2:4", "cluster", "qat", "ptq-int8", "ptq-float16", "ptq-dynamic", "distill"} <= passes
    assert 0 < sp.validation < 0.5


def test_a_sampled_chain_is_a_legal_recipe_chain():
    import optuna

    sp = space.load(None)
    st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        family, chain = sp.sample(st.ask())
        v = space.variant_spec("t", chain)      # raises if illegal
        assert v.chain and v.chain[-1].name in ("ptq-int8", "qat", "ptq-float16", "ptq-dynamic")
        fam = sp.family(family)
        assert len(v.chain) <= len(fam.steps)


@pytest.mark.parametrize("text, words", [
    ("", "is empty"),
    ("[settings]\nvalidation = 0.1\n", "is empty"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "cluster", clusters = 8 }, { pass = "prune", optional = true }]\n',
     "allows an illegal chain cluster → prune"),
    ('[[family]]\nname = "x"\nchain = [{ pass = ["ptq-int8", "qat"] }, { pass = "prune" }]\n', "allows an illegal chain"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "prune", sparsity = [0.5, 1.2] }]\n', "out of range"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "prune", sparsity = [0.9, 0.5] }]\n', "empty range"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "prune", clusters = 8 }]\n', "unknown parameter 'clusters'"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "squeeze" }]\n', "unknown pass 'squeeze'"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "cluster", clusters = [4.0, 8.5] }]\n', "takes an integer"),
    ('[[family]]\nname = "x"\nchain = []\n[[family]]\nname = "x"\nchain = []\n', "declared twice"),
    ('[[family]]\nname = "x"\nchain = [{ pass = "distill", width = { choices = [8, 8] } }]\n', "twice"),
    ("[[family]\n", "not valid TOML"),
    ('[settings]\nstudent_epochs = 0\n[[family]]\nname = "x"\nchain = [{ pass = "distill" }]\n', "'student_epochs' = 0 is out of range"),
    ('[settings]\naccuracy_margin = 0.5\n[[family]]\nname = "x"\nchain = []\n', "'accuracy_margin' = 0.5 is out of range"),
])
def test_bad_spaces_are_one_line_errors(text, words):
    with pytest.raises(EdgekitError) as err:
        space.parse(text, "s.toml")
    line = err.value.one_line()
    assert words in line and "s.toml" in line and "\n" not in line


def test_recipe_text_is_the_chain_as_a_recipe():
    from edgekit.optimize.recipe import parse

    chain = [{"pass": "prune", "sparsity": 0.85, "epochs": 2}, {"pass": "ptq-int8", "calibration": 64}]
    rec = parse(space.recipe_text("trial-0001", chain))
    assert rec.variants[0].describe() == "prune(0.85) → ptq-int8(64)"
    # a trial's description names every sampled parameter (a distill's width is not its primary parameter)
    assert rec.variants[0].describe(every=True) == "prune(sparsity=0.85) → ptq-int8(calibration=64)"
    student = parse(space.recipe_text("trial-0002", [{"pass": "distill", "width": 27, "temperature": 2.5213, "alpha": 0.4},
                                                            {"pass": "qat", "epochs": 1}]))
    assert student.variants[0].describe(every=True) == "distill(width=27, temperature=2.52, alpha=0.4) → qat(epochs=1, preserve=none)"


def test_student_epochs_in_the_space_is_the_distill_steps_default():
    sp = space.parse('[settings]\nstudent_epochs = 3\n[[family]]\nname = "s"\n'
                     'chain = [{ pass = "distill", width = [8, 16] }, { pass = "ptq-int8" }]\n', "s.toml")
    v = space.variant_spec("t", [{"pass": "distill", "width": 8}, {"pass": "ptq-int8"}], "s.toml", sp.settings)
    assert v.chain[0].params["epochs"] == 3
    assert space.variant_spec("t", [{"pass": "distill", "width": 8, "epochs": 5}], "s.toml", sp.settings).chain[0].params["epochs"] == 5
