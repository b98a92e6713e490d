"""Recipe parsing and validation: every error names the variant, the pass and the parameter."""

import pytest

from edgekit.optimize import recipe
from edgekit.optimize.recipe import RecipeError


def parse(body: str):
    return recipe.parse(body, "r.toml")


def one(chain: str, name: str = "v"):
    return parse(f'[[variant]]\nname = "{name}"\nchain = {chain}\n')


def test_default_recipe_is_a_useful_spread():
    r = recipe.load(None)
    assert 8 <= len(r.variants) <= 12
    assert r.baseline() is not None and r.baseline().name == "float32"
    passes = {s.name for v in r.variants for s in v.chain}
    assert passes >= {"ptq-dynamic", "ptq-float16", "ptq-int8", "qat", "prune", "prune-2:4", "cluster", "distill"}
    assert any(s.params.get("unlabelled") for v in r.variants for s in v.chain if s.name == "distill")


def test_three_chain_syntaxes_agree():
    a = one('["prune(0.8)", "ptq-int8"]').variants[0]
    b = one('"prune(sparsity=0.8) -> ptq-int8"').variants[0]
    c = one('[{pass = "prune", sparsity = 0.8}, "ptq-int8"]').variants[0]
    assert a.chain_key() == b.chain_key() == c.chain_key()
    assert a.chain[0].params["sparsity"] == 0.8 and a.chain[0].params["epochs"] == 2


def test_collaborative_schemes_are_resolved():
    v = one('"prune(0.5) -> cluster(8) -> qat"').variants[0]
    assert v.chain[1].params["preserve_sparsity"] == "yes"
    assert v.chain[2].params["preserve"] == "sparsity+clusters"
    assert one('"cluster(8) -> qat"').variants[0].chain[1].params["preserve"] == "clusters"
    assert one('"prune(0.5) -> qat"').variants[0].chain[1].params["preserve"] == "sparsity"
    assert one('"qat-int8"').variants[0].chain[0].params["preserve"] == "none"


@pytest.mark.parametrize(
    "chain, needle",
    [
        ('["prune(1.5)"]', "parameter 'sparsity': 1.5 is out of range (0 < sparsity < 1)"),
        ('["cluster(1)"]', "parameter 'clusters': 1 is out of range (2 ≤ clusters ≤ 256)"),
        ('["cluster(clusters=8, init=\'fancy\')"]', "parameter 'init': 'fancy' is not one of"),
        ('["quantum-annealing"]', "pass 'quantum-annealing': unknown pass"),
        ('["prune(sparsity=0.5, speed=3)"]', "pass 'prune': unknown parameter 'speed'"),
        ('["ptq-int8", "prune(0.5)"]', "illegal order — ptq-int8 produces the .tflite and must be the last pass"),
        ('["prune(0.5)", "distill"]', "illegal order — distill replaces the model"),
        ('["cluster(8)", "prune(0.5)"]', "illegal order — pruning after clustering destroys the clusters"),
        ('["prune(0.5)", "prune-2:4"]', "already has a prune pass"),
        ('["qat(preserve=\'sparsity\')"]', "'sparsity' needs a prune pass before qat"),
        ('["prune(epochs=0)"]', "parameter 'epochs': 0 is out of range"),
        ('["prune(sparsity=\'high\')"]', "parameter 'sparsity': 'high' is not a number"),
        ('["distill(unlabelled=1)"]', "parameter 'unlabelled': 1 is not true/false"),
    ],
)
def test_illegal_chains_are_rejected_with_names(chain, needle):
    with pytest.raises(RecipeError) as exc:
        one(chain, name="bad-one")
    msg = exc.value.one_line()
    assert "r.toml:2" in msg and "variant 'bad-one'" in msg
    assert needle in msg
    assert "\n" not in msg


def test_recipe_level_errors():
    with pytest.raises(RecipeError, match="lists no variants"):
        parse("[settings]\nteacher_epochs = 1\n")
    with pytest.raises(RecipeError, match="listed twice"):
        parse('[[variant]]\nname = "a"\n[[variant]]\nname = "a"\n')
    with pytest.raises(RecipeError, match="not a safe folder name"):
        parse('[[variant]]\nname = "../evil"\n')
    with pytest.raises(RecipeError, match="not valid TOML"):
        parse("[[variant]\n")
    with pytest.raises(RecipeError, match="unknown setting 'teacher_epoch'"):
        parse('[settings]\nteacher_epoch = 1\n[[variant]]\nname = "a"\n')
    with pytest.raises(RecipeError, match="'student_epochs' must be at least 1"):
        parse('[settings]\nstudent_epochs = 0\n[[variant]]\nname = "a"\n')


def test_student_epochs_is_the_distill_steps_default():
    rec = parse('[settings]\nstudent_epochs = 3\n[[variant]]\nname = "a"\nchain = ["distill(width=8)", "ptq-int8"]\n'
                '[[variant]]\nname = "b"\nchain = ["distill(width=8, epochs=5)"]\n'
                '[[variant]]\nname = "c"\nchain = ["prune(0.5)"]\n')
    epochs = {v.name: v.chain[0].params["epochs"] for v in rec.variants}
    assert epochs == {"a": 3, "b": 5, "c": 2}          # a step's own epochs win; other passes keep theirs
    assert parse('[[variant]]\nname = "a"\nchain = ["distill"]\n').variants[0].chain[0].params["epochs"] == 8


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        recipe.load(tmp_path / "nope.toml")
