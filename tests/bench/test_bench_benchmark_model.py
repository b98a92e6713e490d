"""Parser for TFLite's native benchmark_model output (formats from benchmark_model.cc / stats_calculator.h)."""

import pytest

from edgekit.bench import benchmark_model as bm

CURRENT_FULL = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [1]
INFO: Graph: [/data/local/tmp/edgekit/models/abc/model.tflite]
INFO: Loaded model /data/local/tmp/edgekit/models/abc/model.tflite
INFO: The input model file size (MB): 0.011
INFO: Initialized session in 3.337ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=9 first=81913 curr=55502 min=55502 max=81913 avg=58984.7 std=8115 p5=55502 median=56101 p95=81913

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=1061 first=56576 curr=56299 min=54669 max=60236 avg=56265.8 std=982 p5=55001 median=56200 p95=57900

INFO: Inference timings in us: Init: 3337, First inference: 81913, Warmup (avg): 58984.7, Inference (avg): 56265.8
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=2.43359 overall=8.67578
INFO: Overall peak memory footprint (MB) via periodic monitoring: 13.1797
INFO: Memory status at the end of exeution:
INFO: - VmRSS              : 13 MB
INFO: + RssAnnon           : 7 MB
INFO: + RssFile + RssShmem : 6 MB
"""

CURRENT_NO_PCT_NO_MEM = """\
INFO: Initialized session in 896ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=215 first=12231 curr=2106 min=2065 max=12231 avg=2331.42 std=746

INFO: Running benchmark for at least 100 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=459 first=2143 curr=2101 min=2056 max=2656 avg=1.23457e+06 std=124

INFO: Inference timings in us: Init: 896000, First inference: 12231, Warmup (avg): 2331.42, Inference (avg): 1.23457e+06
"""

LEGACY = """\
Initialized session in 38.467ms
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=7 first=91471 curr=83000 min=80012 max=91471 avg=83235 std=3500

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929

Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9
Peak memory footprint (MB): init=3.5 overall=9.25
"""

LOGCAT = """\
11-22 02:00:01.123  4242  4242 I tflite  : Running benchmark for at least 3 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
11-22 02:00:01.200  4242  4242 I tflite  : count=4 curr=1000(all same)
11-22 02:00:01.300  4242  4242 I tflite  : Running benchmark for at least 5 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
11-22 02:00:01.400  4242  4242 I tflite  : count=5 curr=990(all same) p5=990 median=990 p95=990
11-22 02:00:01.500  4242  4242 I tflite  : Average inference timings in us: Warmup: 1000, Init: 5000, Inference: 990
"""


def test_current_format_with_percentiles_and_memory():
    r = bm.parse_output(CURRENT_FULL)
    assert r.format == "current"
    assert (r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us) == (3337, 81913, 58984.7, 56265.8)
    assert r.warmup["count"] == 9 and r.warmup["median"] == 56101
    assert r.inference == {"count": 1061, "first": 56576, "curr": 56299, "min": 54669, "max": 60236,
                           "avg": 56265.8, "std": 982, "p5": 55001, "median": 56200, "p95": 57900}
    assert (r.memory_init_mb, r.memory_overall_mb, r.peak_memory_mb) == (2.43359, 8.67578, 13.1797)
    s = bm.stats_ms(r)
    assert s.p50 == pytest.approx(56.2) and s.mean == pytest.approx(56.2658) and s.n == 1061
    assert s.cv == pytest.approx(982 / 56265.8)
    # one key set whatever the runner: what benchmark_model cannot give is absent and says why
    assert s.p90 is None and s.why_missing("p90") == "benchmark_model reports p5/p50/p95, not p90"
    assert s.why_missing("p99") == "benchmark_model reports p5/p50/p95, not p99"
    assert bm.extra_percentiles_ms(r) == {"p5": pytest.approx(55.001), "p95": pytest.approx(57.9)}


def test_current_format_without_percentiles_or_memory_and_exponent_numbers():
    r = bm.parse_output(CURRENT_NO_PCT_NO_MEM)
    assert r.inference_avg_us == pytest.approx(1.23457e6)
    assert "median" not in r.inference and r.inference["avg"] == pytest.approx(1.23457e6)
    assert r.memory_init_mb is None and r.peak_memory_mb is None
    assert bm.stats_ms(r).p50 is None and "p50" in bm.stats_ms(r).unavailable


def test_legacy_format_and_old_memory_line():
    r = bm.parse_output(LEGACY)
    assert r.format == "legacy"
    assert (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (83235, 38467, 79760.9)
    assert r.first_inference_us == 91471     # from the warm-up stats line
    assert r.inference["count"] == 50 and r.inference["std"] == 1929
    assert (r.memory_init_mb, r.memory_overall_mb, r.peak_memory_mb) == (3.5, 9.25, None)


def test_logcat_prefix_and_all_same_lines():
    r = bm.parse_output(LOGCAT)
    assert r.warmup == {"count": 4, "curr": 1000, "first": 1000, "min": 1000, "max": 1000, "avg": 1000, "std": 0.0}
    assert r.inference["median"] == 990 and r.inference["std"] == 0.0


def test_oldest_no_stats_variant():
    r = bm.parse_output("Average inference timings in us: Warmup: 2331.42, Init: 896, no stats: 2177.1\n")
    assert r.inference_avg_us == 2177.1 and r.init_us == 896


@pytest.mark.parametrize(
    "bad, quoted",
    [
        ("INFO: Inference timings in us: Init: 33, First inference: oops, Warmup (avg): 1, Inference (avg): 2",
         "First inference: oops"),
        ("Average inference timings in us: Warmup: 1, Init: 2",
         "Average inference timings in us: Warmup: 1, Init: 2"),
        ("INFO: Running benchmark for at least 5 iterations\nINFO: count=5 first=1 curr=2 min=1 max=",
         "count=5 first=1 curr=2 min=1 max="),
        (CURRENT_FULL.replace("init=2.43359 overall=8.67578", "init=2.4 overall=?"), "overall=?"),
        (CURRENT_FULL.replace("monitoring: 13.1797", "monitoring: n/a"), "monitoring: n/a"),
    ],
)
def test_malformed_lines_are_quoted(bad, quoted):
    with pytest.raises(bm.BenchmarkOutputError) as ei:
        bm.parse_output(bad)
    assert quoted in ei.value.one_line()


def test_no_timing_line_and_load_failure():
    out = ("ERROR: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this builtin might be supported.\n"
           "ERROR: Registration failed.\nERROR: Failed to construct interpreter\nBenchmarking failed.\n")
    with pytest.raises(bm.BenchmarkOutputError) as ei:
        bm.parse_output(out)
    assert "FULLY_CONNECTED" in str(ei.value)
    assert "version '12'" in bm.load_failure(out)
    assert bm.load_failure(CURRENT_FULL) is None
    with pytest.raises(bm.BenchmarkOutputError, match="no output"):
        bm.parse_output("")


def test_op_profiling_tables_do_not_confuse_the_parser():
    extra = CURRENT_FULL + "Timings (microseconds): count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929\nMemory (bytes): count=0\n"
    r = bm.parse_output(extra)
    assert r.inference["count"] == 1061


def test_command_args_and_binary_lookup(tmp_path, monkeypatch):
    args = bm.command_args("/data/local/tmp/edgekit/bin/x/benchmark_model", "/m/x; rm -rf /data;.tflite", 2, 10, 3, False)
    assert args[1:] == ["--graph=/m/x; rm -rf /data;.tflite", "--num_threads=2", "--num_runs=10", "--warmup_runs=3",
                        "--use_xnnpack=false", "--report_peak_memory_footprint=true"]
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    assert bm.default_binary() == tmp_path / "benchmark_model"
    with pytest.raises(bm.EdgekitError) as ei:
        bm.find_binary(None)
    assert "never downloads" in ei.value.one_line()
    (tmp_path / "benchmark_model").write_bytes(b"\x7fELF")
    assert bm.find_binary(None) == tmp_path / "benchmark_model"
