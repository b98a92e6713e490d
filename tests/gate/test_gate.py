"""edgekit gate: budgets, PASS/FAIL, baseline deltas, config errors with lines, host-only results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from edgekit.cli import main
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.910, gzip_size=700_000, chain=[])
    write_variant(o, "int8", 210_000, 0.902, gzip_size=150_000, baseline="float32")
    write_variant(o, "int8_pruned", 200_000, 0.880, gzip_size=90_000, baseline="float32")
    return o


def with_bench(out, latencies=None):
    """Store device measurements the way the bench stage does (OUT/bench.sqlite)."""
    from edgekit.bench.store import Store

    lat = {"float32": 30.0, "int8": 9.0, "int8_pruned": 8.0, **(latencies or {})}
    store = Store(out / "bench.sqlite")
    for name, ms in lat.items():
        store.add(measurement(name, ms, p90=ms * 1.2, memory=10 + ms))
    store.close()
    return out


def config(tmp_path, text, name="edgekit.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def gate(capsys, *args):
    code = main(["gate", *map(str, args)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


HOST_BUDGETS = """
[budgets]
size = "gzip"

[[budgets.rule]]
variants = "int8*"
max_size = "200 kB"
min_accuracy = "85%"
max_accuracy_drop = "3pp"

[[budgets.rule]]
variants = "float32"
max_size = "1 MiB"
"""


def test_all_pass_on_host_only_results(out, tmp_path, capsys):
    cfg = config(tmp_path, HOST_BUDGETS)
    code, text, err = gate(capsys, out, "--config", cfg)
    assert code == 0, text + err
    lines = [line for line in text.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == 7 and all(line.startswith("PASS") for line in lines)
    assert "gate passed — 7 checks on 3 variants" in text
    assert any("int8_pruned" in line and "90.0 kB" in line and "≤ 200 kB" in line for line in lines)


def test_fail_by_size(out, tmp_path, capsys):
    cfg = config(tmp_path, HOST_BUDGETS.replace('max_size = "200 kB"', 'max_size = "120kB"'))
    code, text, _ = gate(capsys, out, "--config", cfg)
    assert code == 1
    fail = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "int8 " in fail[0] and "size (gzip)" in fail[0]
    assert "150.0 kB > 120.0 kB by 30.0 kB" in fail[0]
    assert f"{cfg}:7: int8 size (gzip)" in text  # where the broken budget is


def test_fail_by_accuracy_drop(out, tmp_path, capsys):
    cfg = config(tmp_path, HOST_BUDGETS.replace('"3pp"', '"1.5%"'))
    code, text, _ = gate(capsys, out, "--config", cfg, "--json")
    assert code == 1
    data = json.loads(text)
    assert data["schema"] == "edgekit.gate/1" and not data["passed"] and data["float_baseline"] == "float32"
    failed = [c for c in data["checks"] if c["status"] == "FAIL"]
    assert [(c["variant"], c["key"]) for c in failed] == [("int8_pruned", "max_accuracy_drop")]
    assert failed[0]["value"] == pytest.approx(0.03) and failed[0]["limit"] == pytest.approx(0.015)
    assert "3.00 pp > 1.50 pp" in failed[0]["message"]


def test_fail_by_latency(out, tmp_path, capsys):
    with_bench(out, {"int8": 21.0})
    cfg = config(tmp_path, """
[budgets]
device = "lowend-armv7"
threads = 1
percentile = "p90"

[[budgets.rule]]
variants = ["int8", "int8_pruned"]
max_latency = "20 ms"
max_memory = "40 MiB"
""")
    code, text, _ = gate(capsys, out, "--config", cfg)
    assert code == 1
    fail = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "int8 " in fail[0] and "latency p90 on lowend-armv7, 1 thread" in fail[0]
    assert "25.2 ms > 20.0 ms" in fail[0]  # p90 = 1.2 x 21 ms
    assert sum(line.startswith("PASS") for line in text.splitlines()) == 3


def test_latency_budget_on_host_only_results_fails_clearly(out, tmp_path, capsys):
    text_cfg = HOST_BUDGETS + '\n[[budgets.rule]]\nvariants = "int8"\nmax_latency = "20ms"\n'
    code, text, _ = gate(capsys, out, "--config", config(tmp_path, text_cfg))
    assert code == 1
    fail = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "missing: not measured on any device — run edgekit bench" in fail[0]
    # the rule can opt out: missing = "skip"
    code, text, _ = gate(capsys, out, "--config", config(tmp_path, text_cfg + 'missing = "skip"\n'))
    assert code == 0 and "SKIP" in text and "1 skipped" in text


def test_baseline_delta_and_update(out, tmp_path, capsys):
    cfg = config(tmp_path, HOST_BUDGETS)
    base = tmp_path / "baseline.json"
    code, _, err = gate(capsys, out, "--config", cfg, "--baseline", base, "--update-baseline")
    assert code == 0 and base.exists() and "baseline updated" in err
    assert load_results(base).get("int8").gzip_size_bytes == 150_000
    # the model grows: +12.0% vs the baseline
    write_variant(out, "int8", 230_000, 0.899, gzip_size=168_000, baseline="float32")
    md, junit = tmp_path / "gate.md", tmp_path / "gate.xml"
    code, text, _ = gate(capsys, out, "--config", cfg, "--baseline", base, "--markdown", md, "--junit", junit)
    assert code == 0
    line = next(line for line in text.splitlines() if line.startswith("PASS  int8 ") and "size" in line)
    assert "+12.0%" in line
    acc = next(line for line in text.splitlines() if line.startswith("PASS  int8 ") and "accuracy (host)" in line)
    assert "-0.30 pp" in acc
    assert "+12.0%" in md.read_text() and md.read_text().startswith("### edgekit gate: ✅ passed")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    # a baseline file that does not exist is a usage error unless it is being created
    code, _, err = gate(capsys, out, "--config", cfg, "--baseline", tmp_path / "nope.json")
    assert code == 2 and "does not exist" in err


def test_junit_and_markdown_on_failure(out, tmp_path, capsys):
    cfg = config(tmp_path, HOST_BUDGETS.replace('min_accuracy = "85%"', 'min_accuracy = 0.89'))
    md, junit = tmp_path / "g.md", tmp_path / "g.xml"
    code, _, _ = gate(capsys, out, "--config", cfg, "--markdown", md, "--junit", junit)
    assert code == 1
    root = ET.parse(junit).getroot()
    failures = root.findall(".//failure")
    assert root.get("failures") == "1" and len(failures) == 1
    case = root.find(".//testcase[failure]")
    assert case.get("classname") == "edgekit.gate.int8_pruned" and "88.00% < 89.00%" in failures[0].get("message")
    text = md.read_text()
    assert "❌ failed" in text and "| ❌ FAIL | `int8_pruned` |" in text


BAD_CONFIGS = [
    ('[[budgets.rule]]\nvariants = "*"\nmax_sise = "300 kB"\n', 3, "unknown key 'max_sise' in rule 1 — did you mean 'max_size'?"),
    ('[budgets]\nsize = "gzip"\n\n[[budgets.rule]]\nvariants = "*"\nmax_size = "300 kilobytes"\n', 6, "bad size unit"),
    ('[[budgets.rule]]\nvariants = "*"\nmax_size = "1MB"\n\n[[budgets.rule]]\nvariants = ["int8", "fp16*"]\nmax_size = "1MB"\n', 6, "pattern 'fp16*' in rule 2 matches no variant"),
    ('[[budgets.rule]]\nvariants = [\n  "int8",\n  "fp16*",\n]\nmax_size = "1MB"\n', 4, "pattern 'fp16*'"),
    ('[budgets]\nspeed = 3\n[[budgets.rule]]\nvariants = "*"\nmax_size = "1MB"\n', 2, "unknown key 'speed' in [budgets]"),
    ('[budgets]\nmax_size = "1MB"\n', 2, "limit 'max_size' outside a rule"),
    ('[[budgets.rule]]\nvariants = "*"\n', 1, "sets no limit"),
    ('[[budgets.rule]]\nmax_size = "1MB"\n', 1, "has no 'variants'"),
    ('[budgets]\npercentile = "p95"\n[[budgets.rule]]\nvariants = "*"\nmax_latency = "1s"\n', 2, "percentile = 'p95': choose"),
    ('[[budgets.rule]]\nvariants = "*"\nmin_accuracy = 1.5\n', 3, "above 1"),
    ('[[budgets.rule]]\nvariants = "*"\nmax_size = "1MB"\nthreads = 0\n', 4, "threads = 0"),
]


@pytest.mark.parametrize("text, line, msg", BAD_CONFIGS)
def test_bad_config_exits_2_with_the_line(out, tmp_path, capsys, text, line, msg):
    cfg = config(tmp_path, text)
    code, stdout, err = gate(capsys, out, "--config", cfg)
    assert code == 2, stdout
    assert err.startswith(f"edgekit: error: {cfg}:{line}: "), err
    assert msg in err and err.count("\n") == 1


def test_budgets_in_pyproject_found_from_cwd(out, tmp_path, capsys, monkeypatch):
    config(tmp_path, '[project]\nname = "x"\n\n[tool.edgekit.budgets]\nsize = "raw"\n\n'
                     '[[tool.edgekit.budgets.rule]]\nvariants = "int8"\nmax_size = "205kB"\n', name="pyproject.toml")
    monkeypatch.chdir(tmp_path)
    code, text, _ = gate(capsys, out)
    assert code == 1 and "210.0 kB > 205.0 kB" in text
    (tmp_path / "pyproject.toml").write_text((tmp_path / "pyproject.toml").read_text().replace("max_size", "max_siz"))
    code, _, err = gate(capsys, out)
    assert code == 2 and "pyproject.toml:9: unknown key 'max_siz'" in err


def test_no_budgets_is_a_usage_error(out, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = gate(capsys, out)
    assert code == 2 and "no budgets found" in err
    code, _, err = gate(capsys, out, "--update-baseline")
    assert code == 2 and "--update-baseline needs --baseline" in err


def test_gate_reads_a_results_json(out, tmp_path, capsys):
    results = tmp_path / "results.json"
    load_results(out).write(results)
    code, text, _ = gate(capsys, results, "--config", config(tmp_path, HOST_BUDGETS))
    assert code == 0 and "gate passed" in text


def test_help_has_an_example(capsys):
    for cmd in ("gate", "report"):
        assert main([cmd, "--help"]) == 0
        assert "Example: edgekit " + cmd in capsys.readouterr().out


def test_exit_codes_of_the_real_command(out, tmp_path):
    """The installed entry point (a child process) exits 0 / 1 / 2."""
    import subprocess
    import sys

    def run(cfg_text):
        cfg = config(tmp_path, cfg_text)
        return subprocess.run([sys.executable, "-m", "edgekit.cli", "gate", str(out), "--config", str(cfg)],
                              capture_output=True, text=True, timeout=120)

    ok = run(HOST_BUDGETS)
    assert ok.returncode == 0 and "gate passed" in ok.stdout
    broken = run(HOST_BUDGETS.replace('"200 kB"', '"100 kB"'))
    assert broken.returncode == 1 and "gate FAILED" in broken.stdout
    bad = run(HOST_BUDGETS.replace("max_size", "max_bytes", 1))
    assert bad.returncode == 2 and "edgekit.toml:7: unknown key 'max_bytes'" in bad.stderr and "Traceback" not in bad.stderr
