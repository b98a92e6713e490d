"""The report and suspect variants: listed apart with the reason in every format, never on the front,
never recommended, and the status survives a results JSON round trip."""

from __future__ import annotations

import io
import json

import pytest

from edgekit.cli import main
from edgekit.report.build import build_report
from edgekit.report.html import render_html
from edgekit.report.render import SUSPECT_TITLE, render_json, render_markdown, render_table
from edgekit.report.synthetic import write_variant
from edgekit.results import load_results

REASON = "output distribution shifted: mean KL(parent || variant) 1.35 > 0.25"


@pytest.fixture
def out(tmp_path):
    o = tmp_path / "out"
    write_variant(o, "float32", 800_000, 0.910, chain=[])
    write_variant(o, "int8", 210_000, 0.902, baseline="float32")
    # smallest and most accurate: without the checks it would be on the front and recommended
    write_variant(o, "tiny", 50_000, 0.950, baseline="float32", suspect=[REASON])
    write_variant(o, "bad", 100_000, None, status="incompatible", reason="op FOO v9")
    return o


def test_suspect_is_off_the_front_and_not_recommended(out):
    rep = build_report(load_results(out), limits={"max_size": "1 MB"}, objective="accuracy")
    assert rep.front == ["int8", "float32"]
    st = dict(zip(rep.names, rep.status))
    assert st["tiny"] == "suspect" and rep.reason[rep.index("tiny")] == REASON
    assert rep.recommendation["variant"] == "float32" and rep.recommendation["candidates"] == 2
    assert rep.order[-2:] == [rep.index("tiny"), rep.index("bad")]       # listed apart, suspect first
    # nothing ranked fits: the closest is never the suspect one either
    tight = build_report(load_results(out), limits={"max_size": "60 kB"})
    assert tight.recommendation["closest"] == "int8"


def test_table_and_markdown_list_suspect_apart(out):
    from rich.console import Console

    rep = build_report(load_results(out))
    con = Console(record=True, width=200, file=io.StringIO())
    render_table(rep, console=con)
    text = con.export_text()
    assert SUSPECT_TITLE in text and "Not ranked" in text
    assert text.index(SUSPECT_TITLE) < text.index("Not ranked")
    assert "suspect" in text and "mean KL(parent" in text
    md = render_markdown(rep)
    assert f"**{SUSPECT_TITLE}**" in md and "| `tiny` | suspect | output distribution shifted" in md
    assert "| `bad` | incompatible |" in md.split("**Not ranked**")[1]


def test_html_lists_suspect_apart(out):
    page = render_html(build_report(load_results(out)))
    assert '<h2 id="suspect">Suspect variants (1)</h2>' in page
    assert "<li><code>tiny</code>: output distribution shifted" in page
    assert 'data-status="suspect"' in page


def test_json_carries_status_and_reason_and_round_trips(out, tmp_path):
    data = json.loads(render_json(build_report(load_results(out))))
    row = next(v for v in data["variants"] if v["name"] == "tiny")
    assert (row["status"], row["reason"]) == ("suspect", REASON)
    assert data["counts"]["suspect"] == 1 and "tiny" not in data["front"]
    assert {"name": "tiny", "status": "suspect", "reason": REASON} in data["excluded"]
    rec = next(v for v in data["results"]["variants"] if v["name"] == "tiny")
    assert rec["status"] == "suspect" and rec["host"]["suspect"] == [REASON]
    p = tmp_path / "report.json"
    p.write_text(render_json(build_report(load_results(out))))
    again = build_report(load_results(p))
    assert again.status[again.index("tiny")] == "suspect" and "tiny" not in again.front


def test_cli_report_names_it(out, capsys):
    assert main(["report", str(out), "--format", "markdown"]) == 0
    assert "| `tiny` | suspect |" in capsys.readouterr().out
