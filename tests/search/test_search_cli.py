"""`edgekit search` bad input: one line, exit 2, no traceback, nothing in OUT lost; --help has examples."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import run_edgekit


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def previous_out(tmp_path) -> Path:
    """An OUT with earlier results that a failing command must leave exactly as it was."""
    out = tmp_path / "out"
    (out / "variants" / "keep").mkdir(parents=True)
    (out / "variants" / "keep" / "manifest.json").write_text('{"name": "keep"}\n')
    (out / "search.json").write_text('{"schema": "edgekit.search/1"}\n')
    (out / "search.sqlite").write_bytes(b"not touched")
    return out


def test_help_has_examples():
    proc = run_edgekit("search", "--help", check=True)
    text = proc.stdout
    assert "Examples:" in text and "edgekit search --out" in text
    for flag in ("--max-accuracy-drop", "--max-size", "--max-latency", "--max-memory", "--objective", "--trials",
                 "--timeout", "--storage", "--space", "--device"):
        assert flag in text


def _bad_space(tmp_path: Path, text: str) -> Path:
    p = tmp_path / f"space-{hashlib.sha256(text.encode()).hexdigest()[:8]}.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("case", ["impossible-size", "empty-space", "illegal-chain", "unreachable-db", "another-study"])
def test_bad_input_is_one_line_exit_2_and_nothing_lost(case, tmp_path, previous_out, small_npz):
    args = ["search", "--data", small_npz, "--out", previous_out, "--trials", "2"]
    expect = {
        "impossible-size": (["--max-size", "10B"], "impossible budget: --max-size 10B"),
        "impossible-latency": (["--max-latency", "0ms"], "impossible budget: --max-latency 0ms"),
        "empty-space": (["--space", _bad_space(tmp_path, "[settings]\nvalidation = 0.1\n")], "is empty"),
        "illegal-chain": (["--space", _bad_space(tmp_path, '[[family]]\nname = "bad"\nchain = [{ pass = "cluster" }, '
                                                         '{ pass = "prune", optional = true }, "ptq-int8"]\n')],
                          "family 'bad' allows an illegal chain cluster → prune → ptq-int8"),
        # port 1 on the loopback: nothing listens there, the connection is refused at once
        "unreachable-db": (["--storage", "postgresql://edgekit:secret@127.0.0.1:1/edgekit"],
                           "cannot open the study database postgresql+psycopg2://edgekit:***@127.0.0.1:1/edgekit"),
        "bad-objective": (["--objective", "speed"], "--objective 'speed' is not one of"),
        "bad-timeout": (["--timeout", "soon"], "--timeout 'soon' is not a duration"),
        # trial variants are trial-NNNN in every study: a second study would overwrite the first one's
        "another-study": ([], "holds the search study 'search-0123456789ab'; this run is study 'search-"),
    }[case]
    if case == "another-study":
        (previous_out / "search.json").write_text('{"schema": "edgekit.search/1", "study": "search-0123456789ab"}\n')
    before = _snapshot(previous_out)
    proc = run_edgekit(*args, *expect[0], timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert expect[1] in lines[0] and "Traceback" not in proc.stderr
    assert "secret" not in proc.stderr
    assert _snapshot(previous_out) == before


@pytest.mark.parametrize("kwargs, words", [
    ({"max_latency": "0ms"}, "impossible budget: --max-latency 0ms"),
    ({"max_memory": "0MiB"}, "impossible budget: --max-memory 0MiB"),
    ({"max_size": "999B"}, "impossible budget: --max-size 999B"),
    ({"max_accuracy_drop": "-1pp"}, "bad accuracy drop"),
    ({"max_accuracy_drop": "100pp"}, "allows every model"),
    ({"objectives": ["speed"]}, "--objective 'speed' is not one of"),
    ({"objectives": ["size", "size"]}, "given twice"),
])
def test_bad_budgets_are_refused_before_anything_else(kwargs, words):
    from edgekit.errors import EdgekitError
    from edgekit.search.api import make_budget

    args = {"objectives": ["size"], "max_accuracy_drop": "1pp", "max_size": None, "max_latency": None,
            "max_memory": None, **kwargs}
    with pytest.raises(EdgekitError) as err:
        make_budget(**args)
    assert words in err.value.one_line()


def test_durations():
    from edgekit.commands.search import parse_duration
    from edgekit.errors import EdgekitError

    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    assert parse_duration("30min") == 1800 and parse_duration("1h 5min 10s") == 3910
    with pytest.raises(EdgekitError):
        parse_duration("soon")
