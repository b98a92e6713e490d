"""edgekit report: Pareto front, ties, missing metrics, dominators, recommendation, renders, CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.report import Selection, build_report, parse_limits, render_json, render_markdown, render_table
from edgekit.report.pareto import pareto, pareto_bruteforce
from edgekit.report.synthetic import measurement, synthetic_records, write_variant
from edgekit.report.units import UnitError, parse_accuracy, parse_latency_ms, parse_memory_mib, parse_size
from edgekit.results import RESULTS_SCHEMA, Results, load_results


@pytest.fixture
def out(tmp_path):
    """float32 baseline, a front of int8/dyn, a dominated variant, a tie, an incompatible and an unevaluated one."""
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.91, chain=[])
    write_variant(o, "int8", 210_000, 0.90, baseline="float32")
    write_variant(o, "int8_copy", 210_000, 0.90, baseline="float32")
    write_variant(o, "dyn", 400_000, 0.905, baseline="float32")
    write_variant(o, "worse", 500_000, 0.88, baseline="float32")
    write_variant(o, "bad", 100_000, 0.50, status="incompatible", reason="op FOO v9 not in tflite-runtime 2.14.0")
    write_variant(o, "crashed", 150_000, None, eval_status="failed", eval_error="interpreter crashed (SIGSEGV)")
    write_variant(o, "noeval", 120_000, None, with_eval=False)
    return o


MEAS = [
    measurement("float32", 30.0, memory=40),
    measurement("int8", 9.0, memory=12),
    measurement("int8_copy", 9.0, memory=12),
    measurement("dyn", 15.0, memory=20),
    measurement("worse", 16.0, memory=25),
    measurement("noeval", 4.0, memory=8),
]


# ------------------------------------------------------------------ units


def test_units():
    assert parse_size("300kB") == parse_size("300 kB") == 300_000
    assert parse_size("2 MiB") == 2 * 1024**2
    assert parse_size("1.5MB") == 1_500_000
    assert parse_size(4096) == 4096
    assert parse_latency_ms("20ms") == 20 and parse_latency_ms("0.5 s") == 500 and parse_latency_ms(7) == 7
    assert parse_memory_mib("64 MiB") == 64 and parse_memory_mib(32) == 32
    assert parse_accuracy("85%") == pytest.approx(0.85) and parse_accuracy(0.9) == 0.9
    for bad in ("3 furlongs", "12 Mb", "-1kB", "kB"):
        with pytest.raises(UnitError):
            parse_size(bad)
    with pytest.raises(UnitError):
        parse_accuracy(85)


# ------------------------------------------------------------------ Pareto core


@pytest.mark.parametrize("seed", range(5))
def test_pareto_matches_bruteforce_with_ties(seed):
    rng = np.random.default_rng(seed)
    costs = rng.integers(0, 6, size=(150, 3)).astype(float)  # small range: many ties and duplicates
    on, dom, ties = pareto(costs)
    assert (on == pareto_bruteforce(costs)).all()
    for i in np.flatnonzero(~on):
        j = dom[i]
        assert on[j], "the named dominator is on the front"
        assert (costs[j] <= costs[i]).all() and (costs[j] < costs[i]).any()
    for group in ties:
        assert all(on[k] for k in group)
        assert all((costs[k] == costs[group[0]]).all() for k in group)
    # every duplicate row on the front is in a tie group
    front_rows = [tuple(r) for r in costs[on]]
    dup = {r for r in front_rows if front_rows.count(r) > 1}
    assert sum(len(g) for g in ties) == sum(front_rows.count(r) for r in dup)


def test_pareto_float_noise_is_a_tie():
    on, dom, ties = pareto(np.array([[1.0, 2.0], [1.0 + 1e-12, 2.0], [2.0, 3.0]]))
    assert on.tolist() == [True, True, False] and ties == [[0, 1]] and dom[2] == 0


# ------------------------------------------------------------------ report


def test_front_dominator_ties_and_apart(out):
    rep = build_report(load_results(out, measurements=MEAS), axes=["size", "accuracy"])
    st = dict(zip(rep.names, rep.status))
    assert st["float32"] == st["int8"] == st["int8_copy"] == st["dyn"] == "front"
    assert st["worse"] == "dominated"
    assert rep.dominated_by[rep.names.index("worse")] == "int8"  # first front member (smallest size) that dominates
    assert rep.ties_with[rep.names.index("int8")] == ["int8_copy"]
    assert st["bad"] == "incompatible" and "op FOO v9" in rep.reason[rep.names.index("bad")]
    assert st["crashed"] == "failed" and "SIGSEGV" in rep.reason[rep.names.index("crashed")]
    assert st["noeval"] == "missing" and "no host evaluation" in rep.reason[rep.names.index("noeval")]
    assert rep.front[:2] == ["int8", "int8_copy"] and rep.front[-1] == "float32"
    assert rep.results.baseline == "float32"


def test_latency_axis_and_missing_measurement(out):
    meas = [m for m in MEAS if m.variant != "dyn"] + [measurement("dyn", 0, status="incompatible", reason="Didn't find op for builtin opcode 'FOO'")]
    rep = build_report(load_results(out, measurements=meas), axes=["latency", "accuracy"])
    st = dict(zip(rep.names, rep.status))
    assert st["dyn"] == "incompatible" and "FOO" in rep.reason[rep.names.index("dyn")]
    assert st["int8"] == "front" and st["worse"] == "dominated"
    assert rep.selection.device == "lowend-armv7" and rep.selection.threads == 1
    # measured on another thread count only -> not ranked, with the reason
    meas2 = [m for m in MEAS if m.variant != "worse"] + [measurement("worse", 5.0, threads=4)]
    rep2 = build_report(load_results(out, measurements=meas2), axes=["latency", "accuracy"], selection=Selection(threads=1))
    i = rep2.names.index("worse")
    assert rep2.status[i] == "missing" and "not measured on lowend-armv7, 1 thread" in rep2.reason[i]


def test_default_axes_and_memory_axis(out):
    rep = build_report(load_results(out, measurements=MEAS))
    assert rep.axes == ["size", "accuracy", "latency"]
    rep_host = build_report(load_results(out, measurements=[]))
    assert rep_host.axes == ["size", "accuracy"]
    rep_mem = build_report(load_results(out, measurements=MEAS), axes=["memory", "accuracy"], selection=Selection(percentile="p90"))
    assert rep_mem.value(rep_mem.names.index("int8"), "memory") == 12


def test_gzip_and_percentile_selection(out):
    res = load_results(out, measurements=[measurement("int8", 9.0, p90=11.0, p99=30.0)])
    rep = build_report(res, axes=["size", "latency"], selection=Selection(size="gzip", percentile="p99"))
    i = rep.names.index("int8")
    assert rep.value(i, "size") == 168_000 and rep.value(i, "latency") == 30.0


def test_ambiguous_device_is_an_error(out):
    meas = MEAS + [measurement("int8", 5.0, serial="phone-1", profile=None)]
    res = load_results(out, measurements=meas)
    with pytest.raises(EdgekitError, match="2 devices"):
        build_report(res, axes=["latency"])
    rep = build_report(res, axes=["latency"], selection=Selection(device="phone-1"))
    assert rep.front == ["int8"]
    with pytest.raises(EdgekitError, match="no measurements on device 'nope'"):
        build_report(res, axes=["latency"], selection=Selection(device="nope"))


def test_stale_measurement_ignored(out):
    m = measurement("int8", 9.0)
    m.sha256 = "0" * 64
    res = load_results(out, measurements=[m])
    assert res.get("int8").device == [] and "older build" in res.warnings[0]


def test_recommendation_fits(out):
    res = load_results(out, measurements=MEAS)
    rep = build_report(res, limits=parse_limits(max_size="450kB", min_accuracy=0.85, max_latency="20ms"))
    r = rep.recommendation
    assert r["fits"] and r["variant"] == "dyn" and r["objective"] == "accuracy"
    rep = build_report(res, limits=parse_limits(max_size="450kB", min_accuracy=0.85, max_latency="20ms"), objective="latency")
    assert rep.recommendation["variant"] == "int8"  # int8/int8_copy tie on everything: first by name
    rep = build_report(res, limits=parse_limits(max_size="1MB"), objective="size")
    assert rep.recommendation["variant"] == "int8"  # noeval is smaller but not ranked (no accuracy)


def test_recommendation_nothing_fits(out):
    res = load_results(out, measurements=MEAS)
    rep = build_report(res, limits=parse_limits(max_size="200kB", min_accuracy="92%", max_latency="20ms"))
    r = rep.recommendation
    assert not r["fits"] and r["variant"] is None and r["closest"] == "int8"
    misses = {m["limit"]: m for m in r["misses"]}
    assert set(misses) == {"max_size", "min_accuracy"}
    assert misses["max_size"]["by"] == pytest.approx(10_000) and misses["max_size"]["by_pct"] == pytest.approx(5.0)
    assert misses["min_accuracy"]["by"] == pytest.approx(0.02)
    assert "nothing fits; closest is int8" in r["message"] and "by 10.0 kB (5.0%)" in r["message"]


def test_recommendation_latency_without_measurements(out):
    rep = build_report(load_results(out, measurements=[]), limits=parse_limits(max_latency="20ms"))
    assert not rep.recommendation["fits"] and "run edgekit bench" in rep.recommendation["message"]


# ------------------------------------------------------------------ renders


def _table_rows(text: str) -> dict[str, list[str]]:
    """Variant rows of a rich table: {variant: [cells]} (the first cell is the ★ column)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) > 2 and cells[1] and not cells[1].startswith("…"):
            rows[cells[1]] = cells
    return rows


def test_render_table(out):
    from rich.console import Console

    rep = build_report(load_results(out, measurements=MEAS), limits=parse_limits(max_size="450kB"))
    con = Console(record=True, width=160, file=io.StringIO())
    render_table(rep, console=con)
    text = con.export_text()
    rows = _table_rows(text)
    # exactly the front members are starred (the legend line also holds a ★, so count rows, not text)
    assert {name for name, cells in rows.items() if cells[0] == "★"} == set(rep.front) == {"float32", "int8", "int8_copy", "dyn"}
    assert rows["worse"][0] == "" and "dominated by int8" in rows["worse"][-1]
    assert "recommended" in rows["dyn"][-1] and "baseline" in rows["float32"][-1]
    assert rows["int8"][2:5] == ["210.0 kB", "90.00%", "9.00 ms"]
    assert "Not ranked" in text and "op FOO v9" in text
    assert "Recommendation (max size 450.0 kB; objective accuracy): dyn is the best accuracy within the limits" in text


def test_render_markdown(out):
    rep = build_report(load_results(out, measurements=MEAS), limits=parse_limits(max_size="100kB"))
    md = render_markdown(rep)
    assert md.startswith("### edgekit report")
    assert "| ★ | **`int8`" in md and "|  | `worse` |" in md and "dominated by int8" in md
    assert "**Not ranked**" in md and "| `bad` | incompatible |" in md
    assert "❌" in md and "nothing fits" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(line.count("|") == rows[0].count("|") for line in rows[:6])


def test_render_json_schema_and_roundtrip(out, tmp_path):
    rep = build_report(load_results(out, measurements=MEAS), limits=parse_limits(max_size="450kB"))
    data = json.loads(render_json(rep))
    assert data["schema"] == "edgekit.report/1"
    assert [a["metric"] for a in data["axes"]] == ["size", "accuracy", "latency"]
    assert data["front"] == rep.front and data["counts"]["variants"] == 8
    worse = next(v for v in data["variants"] if v["name"] == "worse")
    assert worse["status"] == "dominated" and worse["dominated_by"] == "int8" and worse["metrics"]["size"] == 500_000
    assert {e["name"] for e in data["excluded"]} == {"bad", "crashed", "noeval"}
    assert data["recommendation"]["variant"] == "dyn"
    assert data["results"]["schema"] == RESULTS_SCHEMA
    # a report JSON and a results JSON both load back as results (a baseline from main)
    p = tmp_path / "report.json"
    p.write_text(render_json(rep))
    again = load_results(p)
    assert again.names == rep.names and again.baseline == "float32"
    assert again.get("int8").device[0].p50_ms == 9.0
    rp = tmp_path / "results.json"
    again.write(rp)
    assert build_report(load_results(rp)).front == rep.front


def test_render_html_has_plots_and_extra_columns(out):
    from edgekit.report import render_html

    res = load_results(out, measurements=MEAS)
    res.get("int8").extra["instructions"] = 123456
    page = render_html(build_report(res))
    assert page.count("<svg class=\"plot\"") == 2 and 'id="plot-size-accuracy"' in page and 'id="plot-latency-accuracy"' in page
    assert "front-line" in page and "int8, int8_copy" in page  # identical points share a label
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert ">instructions</th>" in page and "123,456" in page
    host_only = render_html(build_report(load_results(out, measurements=[])))
    assert "no device measurements" in host_only


def test_scale_10k_builds(tmp_path):
    res = Results(synthetic_records(10_000), baseline="v000000")
    rep = build_report(res, limits=parse_limits(max_size="300kB", min_accuracy=0.6))
    assert len(rep.front) > 0 and rep.status.count("dominated") + len(rep.front) == 10_000
    json.loads(render_json(rep))


# ------------------------------------------------------------------ CLI


def test_cli_report_formats(out, tmp_path, capsys):
    assert main(["report", str(out), "--axes", "size,accuracy", "--max-size", "450kB", "--min-accuracy", "0.85"]) == 0
    text = capsys.readouterr().out
    rows = _table_rows(text)
    assert {name for name, cells in rows.items() if cells[0] == "★"} == {"float32", "int8", "int8_copy", "dyn"}
    assert rows["worse"][0] == "" and "recommended" in rows["dyn"][-1]
    assert "dyn is the best accuracy within the limits (3 fit)" in text
    assert main(["report", str(out), "--format", "markdown", "--out", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.md").read_text().startswith("### edgekit report")
    assert main(["report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "edgekit.report/1"
    assert main(["report", str(out), "--format", "html", "--out", str(tmp_path / "r.html")]) == 0
    assert "<svg" in (tmp_path / "r.html").read_text()
    assert main(["report", str(out), "--html", str(tmp_path / "r2.html")]) == 0
    assert "HTML report:" in capsys.readouterr().out and (tmp_path / "r2.html").exists()


@pytest.mark.parametrize("args, msg", [
    (["--max-size", "300 furlongs"], "bad size unit"),
    (["--axes", "size,speed"], "unknown axis 'speed'"),
    (["--size", "zip"], "--size must be raw or gzip"),
    (["--format", "pdf"], "--format must be one of"),
])
def test_cli_report_usage_errors(out, capsys, args, msg):
    assert main(["report", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_report_missing_path(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_sqlite_is_read(out):
    from edgekit.bench.store import Store

    store = Store(out / "bench.sqlite")
    for m in MEAS:
        store.add(m)
    store.close()
    res = load_results(out)
    assert res.get("int8").device[0].p50_ms == 9.0
    assert build_report(res).axes == ["size", "accuracy", "latency"]


def test_names_with_markup_and_shell_characters(tmp_path):
    from rich.console import Console

    o = tmp_path / "out"
    name = "[bold]x[red]; $(touch PWNED) 'q\" <b>"
    write_variant(o, name, 1000, 0.5, chain=[])
    write_variant(o, "other", 2000, 0.4)
    rep = build_report(load_results(o, measurements=[]))
    con = Console(record=True, width=200, file=io.StringIO())
    render_table(rep, console=con)
    assert name in con.export_text()
    from edgekit.report import render_html

    page = render_html(rep)
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert f"`{name}`" in render_markdown(rep)


def test_thread_sweep_defaults_to_fewest_threads(out):
    meas = MEAS + [measurement("int8", 5.0, threads=2), measurement("dyn", 7.0, threads=2)]
    rep = build_report(load_results(out, measurements=meas), axes=["latency", "accuracy"])
    assert rep.selection.threads == 1 and rep.value(rep.names.index("int8"), "latency") == 9.0
    rep2 = build_report(load_results(out, measurements=meas), axes=["latency", "accuracy"], selection=Selection(threads=2))
    assert rep2.value(rep2.names.index("int8"), "latency") == 5.0
    assert rep2.status[rep2.names.index("worse")] == "missing"
