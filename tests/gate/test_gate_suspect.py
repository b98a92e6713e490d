"""edgekit gate and suspect variants (numerical-fault checks tripped): every check of a rule that matches
one fails with the reason, unless the rule or the defaults say allow_suspect = true."""

from __future__ import annotations

import json

import pytest

from edgekit.cli import main
from edgekit.report.synthetic import write_variant

REASON = "top-1 agreement with the parent 12.0% < 90.0%"


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.910, chain=[])
    write_variant(o, "int8", 210_000, 0.902, baseline="float32")
    write_variant(o, "int8_broken", 200_000, 0.120, baseline="float32", suspect=[REASON])
    return o


def run(capsys, out, tmp_path, text, *more):
    cfg = tmp_path / "edgekit.toml"
    cfg.write_text(text)
    code = main(["gate", str(out), "--config", str(cfg), *map(str, more)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


RULES = '[[budgets.rule]]\nvariants = "int8*"\nmax_size = "300 kB"\nmin_accuracy = 0.0\n'


def test_a_suspect_variant_fails_each_check_of_its_rule(out, tmp_path, capsys):
    code, text, err = run(capsys, out, tmp_path, RULES, "--json")
    assert code == 1, text + err
    checks = json.loads(text)["checks"]
    broken = [c for c in checks if c["variant"] == "int8_broken"]
    assert len(broken) == 2 and all(c["status"] == "FAIL" for c in broken)
    assert all(c["message"] == f"suspect: {REASON} — set allow_suspect = true in the rule to judge it anyway" for c in broken)
    assert broken[0]["value"] == 200_000          # the value is still shown: the verdict is the checks'
    assert all(c["status"] == "PASS" for c in checks if c["variant"] == "int8")


def test_a_rule_that_does_not_match_it_is_not_affected(out, tmp_path, capsys):
    code, text, _ = run(capsys, out, tmp_path, '[[budgets.rule]]\nvariants = "int8"\nmax_size = "300 kB"\n')
    assert code == 0, text


@pytest.mark.parametrize("text", [
    RULES + "allow_suspect = true\n",
    "[budgets]\nallow_suspect = true\n\n" + RULES,
])
def test_allow_suspect_in_the_rule_or_the_defaults(out, tmp_path, capsys, text):
    code, stdout, err = run(capsys, out, tmp_path, text)
    assert code == 0, stdout + err
    assert "suspect:" not in stdout and not any(line.startswith("FAIL") for line in stdout.splitlines())


def test_the_rule_overrides_the_defaults(out, tmp_path, capsys):
    code, _, _ = run(capsys, out, tmp_path, "[budgets]\nallow_suspect = true\n\n" + RULES + "allow_suspect = false\n")
    assert code == 1


@pytest.mark.parametrize("text, line", [
    (RULES + 'allow_suspect = "yes"\n', 5),
    ('[budgets]\nallow_suspect = 1\n\n' + RULES, 2),
])
def test_a_bad_allow_suspect_is_one_line_exit_2(out, tmp_path, capsys, text, line):
    code, stdout, err = run(capsys, out, tmp_path, text)
    assert code == 2, stdout
    assert err.startswith(f"edgekit: error: {tmp_path / 'edgekit.toml'}:{line}: allow_suspect = ")
    assert "must be true or false" in err and err.count("\n") == 1


def test_markdown_names_the_reason(out, tmp_path, capsys):
    md = tmp_path / "gate.md"
    code, _, _ = run(capsys, out, tmp_path, RULES, "--markdown", md)
    assert code == 1 and f"suspect: {REASON}" in md.read_text()
