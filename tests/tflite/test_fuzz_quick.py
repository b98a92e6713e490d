"""The quick seeded fuzz run of `make test` (benchmarks/fuzz.py is the long one, with the device stage).

Seed models: the tiny 8x8 models of tests/_tiny_tflite.py (float32, int8, dynamic-range, float16,
logits, fixed batch). Mutations and classification: edgekit/tflite/fuzz.py. Every file must end ok,
as a one-line EdgekitError, or as `failed` with the interpreter child's reason — never a harness
crash (another exception, a traceback, a multi-line error, a hang).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from _tiny_tflite import NAMES, tiny_models
from edgekit.errors import EdgekitError
from edgekit.tflite import fuzz

SEED = 12


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tiny_models(tmp_path_factory.getbasetemp())
    return [fuzz.analyse(n, (d / f"{n}.tflite").read_bytes()) for n in NAMES]


def _crashes(results):
    return [(i, what, o.stage, o.detail) for i, what, outs in results for o in outs if o.outcome == "crash"]


def test_the_mutations_are_replayable_and_aimed_at_the_structure(seeds):
    assert all(s.fields and s.lengths and s.vtables and s.buffers_vec for s in seeds)
    a, b = fuzz.case(seeds, SEED, 7), fuzz.case(seeds, SEED, 7)
    assert a == b and fuzz.case(seeds, SEED, 8) != a
    kinds = Counter(fuzz.case(seeds, SEED, i)[1].split(":")[1].split("@")[0].split("-")[0] for i in range(300))
    assert {"bitflip", "truncate", "offset", "vtable", "huge", "value", "swap", "random", "combo"} <= set(kinds), kinds


def test_three_hundred_mutated_files_in_process_no_harness_crash(seeds, tmp_path):
    results = []
    for i in range(300):
        data, what = fuzz.case(seeds, SEED, i)
        p = tmp_path / f"{i}.tflite"
        p.write_bytes(data)
        results.append((i, what, [fuzz.inspect_stage(p)]))
    assert _crashes(results) == []
    counts = Counter(outs[0].outcome for _, _, outs in results)
    assert counts["ok"] > 20 and counts["error"] > 100, counts   # the mutations both pass and break the reader
    assert all("\n" not in outs[0].detail for _, _, outs in results)


def test_thirty_files_through_the_interpreter_child_no_harness_crash(seeds, tmp_path):
    results = []
    i = 0
    while len(results) < 30:   # files the reader accepts: those are the ones that reach the runtime
        data, what = fuzz.case(seeds, SEED, i)
        i += 1
        p = tmp_path / f"{i}.tflite"
        p.write_bytes(data)
        if fuzz.inspect_stage(p).outcome == "ok":
            results.append((i, what, [fuzz.child_stage(p)]))
    assert _crashes(results) == []
    counts = Counter(outs[0].outcome for _, _, outs in results)
    assert counts["ok"] and counts["failed"], counts
    assert all(outs[0].detail for _, _, outs in results if outs[0].outcome == "failed")


def test_the_cli_on_a_good_and_two_bad_files(seeds, tmp_path):
    good = tmp_path / "good.tflite"
    good.write_bytes(seeds[0].data)
    assert fuzz.cli_stage(good).outcome == "ok"
    for i in (0, 1):
        data, what = fuzz.case(seeds, SEED, i)
        p = tmp_path / f"bad{i}.tflite"
        p.write_bytes(data)
        o = fuzz.cli_stage(p)
        assert o.outcome in ("ok", "error", "failed"), (what, o)


def test_the_classifier_calls_other_exceptions_and_multi_line_errors_crashes():
    def index_error():
        return [][1]

    def multi_line():
        raise EdgekitError("line one\nTraceback (most recent call last):")

    def one_line():
        raise EdgekitError("model.tflite is not a valid .tflite (truncated)", "re-export it")

    assert fuzz._guarded("inspect", index_error, 5).outcome == "crash"
    hang = fuzz._guarded("inspect", lambda: time.sleep(5), 0.2)
    assert hang.outcome == "crash" and hang.detail.startswith("hang")
    assert fuzz._guarded("inspect", multi_line, 5).outcome == "crash"
    o = fuzz._guarded("inspect", one_line, 5)
    assert o.outcome == "error" and o.detail == "model.tflite is not a valid .tflite (truncated) — re-export it"
