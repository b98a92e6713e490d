"""The public API ``ek.report`` (what the CLI calls) and the core install: report and gate import no
TensorFlow, tf-keras, adbutils or tflite-runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import edgekit as ek
from edgekit.bench.store import Store
from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results

HEAVY = ("tensorflow", "tf_keras", "adbutils", "tflite_runtime")


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.91, chain=[])
    write_variant(o, "int8", 210_000, 0.90, baseline="float32")
    write_variant(o, "dyn", 400_000, 0.905, baseline="float32")
    write_variant(o, "worse", 500_000, 0.88, baseline="float32")
    store = Store(o / "bench.sqlite")
    for name, ms in (("float32", 30.0), ("int8", 9.0), ("dyn", 15.0), ("worse", 16.0)):
        store.add(measurement(name, ms, memory=8 + ms))
    store.close()
    return o


def test_the_facade_calls_the_api(out, tmp_path):
    """``ek.report`` / ``ek.gate`` work whether the facade resolved them to the api functions or, after
    ``edgekit.report`` / ``edgekit.gate`` were imported (as here), to the callable packages."""
    from edgekit.gate.core import GateResult
    from edgekit.report.core import Report

    assert isinstance(ek.report(out, axes="size,accuracy"), Report)
    assert isinstance(ek.gate(out, {"rule": [{"variants": "*", "max_size": "1MB"}]}), GateResult)
    assert ek.Report is Report and ek.GateResult is GateResult and ek.load_results is load_results
    fresh = ("import edgekit as ek; r = ek.report({out!r}, axes='size,accuracy'); "
             "g = ek.gate({out!r}, {{'rule': [{{'variants': '*', 'max_size': '300kB'}}]}}); "
             "print(type(r).__name__, r.front, type(g).__name__, [c.variant for c in g.failed])").format(out=str(out))
    proc = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.stdout == "Report ['int8', 'dyn', 'float32'] GateResult ['dyn', 'float32', 'worse']\n", proc.stderr[-2000:]


def test_report_limits_as_unit_strings_or_base_units(out):
    a = ek.report(out, max_size="450kB", min_accuracy="85%", max_latency="20ms", max_memory="30MiB")
    b = ek.report(out, max_size=450_000, min_accuracy=0.85, max_latency=20, max_memory=30)
    assert a.limits == b.limits == {"max_size": 450_000, "min_accuracy": 0.85, "max_latency": 20, "max_memory": 30}
    assert a.recommendation["variant"] == b.recommendation["variant"] == "dyn"
    assert a.axes == ["size", "accuracy", "latency"] and a.front == ["int8", "dyn", "float32"]
    by_latency = ek.report(out, axes=["latency", "accuracy"], objective="latency", max_size="450kB")
    assert by_latency.recommendation["variant"] == "int8"
    gz = ek.report(out, axes="size", size="gzip", limits={"max_gzip_size": "200kB"})
    assert gz.recommendation["variant"] == "int8" and gz.value(gz.index("int8"), "gzip_size") == 168_000


def test_report_takes_results_and_says_what_is_wrong(out):
    res = load_results(out)
    assert ek.report(res, axes="size,accuracy").front == ["int8", "dyn", "float32"]
    with pytest.raises(EdgekitError, match="needs a path or Results, not int"):
        ek.report(42)
    with pytest.raises(EdgekitError, match="max_size is given twice"):
        ek.report(res, max_size="1MB", limits={"max_size": "2MB"})
    with pytest.raises(EdgekitError, match="unknown limit 'max_speed'"):
        ek.report(res, limits={"max_speed": 3})
    with pytest.raises(EdgekitError, match="bad latency unit 'parsecs'"):
        ek.report(res, max_latency="3 parsecs")
    with pytest.raises(EdgekitError, match="unknown objective 'speed'"):
        ek.report(res, objective="speed")
    with pytest.raises(EdgekitError, match="--threads must be a whole number of at least 1"):
        ek.report(res, threads=0)


def test_the_cli_calls_the_api(out, capsys):
    args = ["--axes", "size,latency", "--max-size", "450kB", "--percentile", "p90"]
    assert main(["report", str(out), *args, "--limit", "max_memory=20MiB", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    api = ek.report(out, axes="size,latency", max_size="450kB", percentile="p90", limits={"max_memory": "20MiB"}).to_dict()
    for d in (cli, api):
        d.pop("created")
        d["results"].pop("created")
    assert cli == api and cli["recommendation"]["variant"] == "int8"
    assert main(["report", str(out), "--limit", "max_memory"]) == 2
    assert "--limit 'max_memory' is not KEY=VALUE" in capsys.readouterr().err


CHILD = r"""
import importlib.abc, json, sys
HEAVY = {heavy!r}
tried = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            tried.append(name)
            raise ImportError(f"{{name}} is not in the core install")
        return None

sys.meta_path.insert(0, Block())
from edgekit.cli import main
codes = [main(["report", {out!r}]), main(["report", {out!r}, "--html", {html!r}]),
         main(["gate", {out!r}, "--json", "--config", {cfg!r}])]
print(json.dumps({{"codes": codes, "tried": tried, "loaded": [m for m in HEAVY if m in sys.modules]}}))
"""


def test_report_and_gate_need_only_the_core_install(out, tmp_path):
    cfg = tmp_path / "edgekit.toml"
    cfg.write_text('[budgets]\n[[budgets.rule]]\nvariants = "*"\nmax_size = "1MB"\nmax_latency = "50ms"\n')
    code = CHILD.format(heavy=HEAVY, out=str(out), html=str(tmp_path / "r.html"), cfg=str(cfg))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0, 0, 0], "tried": [], "loaded": []}, result
    gate_json = json.loads(proc.stdout[proc.stdout.index('{\n "schema": "edgekit.gate/1"'):].rsplit("\n{", 1)[0])
    assert gate_json["passed"] and gate_json["counts"]["checks"] == 8
    assert "<svg" in (tmp_path / "r.html").read_text()
