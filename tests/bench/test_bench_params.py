"""BenchParams: one frozen, validated parameters object with the CLI's one-line messages."""

import dataclasses
from pathlib import Path

import pytest

import edgekit as ek
from edgekit.bench.params import BenchParams, parse_threads
from edgekit.errors import EdgekitError


def _err(**kw) -> str:
    with pytest.raises(EdgekitError) as exc:
        BenchParams(**kw)
    assert exc.value.exit_code == 2
    line = exc.value.one_line()
    assert "\n" not in line
    return line


def test_defaults_match_the_cli_and_the_facade_names_the_class():
    p = BenchParams()
    assert (p.runs, p.warmup, p.threads, p.metric, p.runner, p.accuracy) == (50, 5, (1, 2), "latency", "python", "host")
    assert (p.cooldown, p.timeout, p.noisy_cv, p.seed, p.use_xnnpack, p.allow_abi) == (0.0, 3600.0, 0.10, 0, False, False)
    assert BenchParams(metric="instructions").threads == (1,)         # one thread is the counted default
    assert ek.BenchParams is BenchParams


def test_frozen_and_replace_validates_again():
    p = BenchParams(runs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.runs = 4  # type: ignore[misc]
    assert p.replace(runs=7).runs == 7 and p.runs == 3
    with pytest.raises(EdgekitError, match="--runs 0 must be >= 1"):
        p.replace(runs=0)


def test_threads_from_text_int_or_sequence():
    assert BenchParams(threads="1, 2,2,4").threads == (1, 2, 4)
    assert BenchParams(threads=2).threads == (2,)
    assert BenchParams(threads=[4, 1]).threads == (4, 1)
    assert parse_threads("3") == (3,)
    assert "not a comma-separated list of integers" in _err(threads="1,two")
    assert "thread counts must be >= 1" in _err(threads="0,1")
    assert "thread counts must be >= 1" in _err(threads="")


@pytest.mark.parametrize("kw, text", [
    ({"runner": "tflite"}, "--runner 'tflite' is not one of python, benchmark_model"),
    ({"accuracy": "both"}, "--accuracy 'both' must be host or device"),
    ({"accuracy": "device", "runner": "benchmark_model"}, "--accuracy device needs --runner python — benchmark_model cannot return predictions"),
    ({"metric": "cycles"}, "--metric 'cycles' is not one of latency, instructions"),
    ({"metric": "instructions", "threads": "1,2"}, "--metric instructions counts one thread only, not --threads 1,2"),
    ({"metric": "instructions", "runner": "benchmark_model"}, "--metric instructions needs --runner python"),
    ({"metric": "instructions", "accuracy": "device"}, "--metric instructions cannot be combined with --accuracy device"),
    ({"runs": 0}, "--runs 0 must be >= 1"),
    ({"runs": 2.5}, "--runs 2.5 is not an integer"),
    ({"warmup": -1}, "--warmup -1 must be >= 0"),
    ({"eval_limit": 0}, "--eval-limit 0 must be >= 1"),
    ({"timeout": 0.5}, "--timeout 0.5 must be >= 1"),
    ({"cooldown": -2.0}, "--cooldown -2.0 must be >= 0"),
    ({"noisy_cv": "high"}, "--noisy-cv 'high' is not a number"),
    ({"runs": True}, "--runs True is not an integer"),
])
def test_every_bad_value_is_one_line_naming_the_flag(kw, text):
    assert text in _err(**kw)


def test_measurement_config_is_what_the_key_hashes():
    assert BenchParams().measurement_config() == {"runs": 50, "warmup": 5, "accuracy": "host", "seed": 0}
    # thread counts, cooldown, timeout and the warning threshold do not change what is measured
    assert BenchParams(threads="4", cooldown=3, timeout=9, noisy_cv=0.5).measurement_config() == BenchParams().measurement_config()
    dev = BenchParams(accuracy="device").measurement_config("e" * 64, 12)
    assert dev["eval_sha256"] == "e" * 64 and dev["eval_n"] == 12 and dev["accuracy"] == "device"
    bm = BenchParams(runner="benchmark_model", use_xnnpack=True).measurement_config()
    assert bm["use_xnnpack"] is True and bm["report_peak_memory_footprint"] is True
    assert BenchParams(metric="instructions").measurement_config()["metric"] == "instructions"


def test_paths_and_to_dict(tmp_path):
    p = BenchParams(benchmark_binary=str(tmp_path / "bm"), eval_data=tmp_path)
    assert p.benchmark_binary == tmp_path / "bm" and isinstance(p.eval_data, Path)
    assert BenchParams(eval_data="fashion-mnist").eval_data == "fashion-mnist"     # a data set name stays a name
    d = p.to_dict()
    assert d["threads"] == [1, 2] and d["benchmark_binary"] == str(tmp_path / "bm")
    assert set(d) == {f.name for f in dataclasses.fields(BenchParams)}


def test_jobs_need_a_core_each_and_a_phone_takes_one():
    import os

    from edgekit.bench.api import refuse_jobs_on_a_phone

    cores = os.cpu_count() or 1
    for bad, text in ((0, "--jobs 0 must be >= 1"), (cores + 1, f"--jobs {cores + 1}: this machine has {cores} core(s)")):
        with pytest.raises(EdgekitError) as e:
            BenchParams(jobs=bad)
        assert text in e.value.one_line()
    assert "jobs" not in BenchParams(jobs=cores).measurement_config()   # resume across --jobs values

    class Dev:
        serial = "0123456789ABCDEF"
        info = {"abi": "armeabi-v7a"}

    refuse_jobs_on_a_phone(Dev(), BenchParams(jobs=1))
    if cores > 1:
        with pytest.raises(EdgekitError) as e:
            refuse_jobs_on_a_phone(Dev(), BenchParams(jobs=2))
        assert "real phone 0123456789ABCDEF" in e.value.one_line() and "--jobs 1" in e.value.one_line()
    Dev.info = {"abi": "armeabi-v7a", "emulated": True}
    refuse_jobs_on_a_phone(Dev(), BenchParams(jobs=cores))
