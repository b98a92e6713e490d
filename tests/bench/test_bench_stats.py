"""edgekit.bench.stats: known values, t table, noisy and drift detection."""

import math
import random

import pytest

from edgekit.bench import stats
from edgekit.measurement import LatencyStats


def test_summary_known_values():
    s = stats.summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert s.n == 10 and s.min == 1 and s.max == 10
    assert s.mean == pytest.approx(5.5)
    assert s.std == pytest.approx(3.0276503540974917)       # sample std (ddof=1)
    assert s.p50 == pytest.approx(5.5)
    assert s.p90 == pytest.approx(9.1)                      # numpy 'linear'
    assert s.p99 == pytest.approx(9.91)
    half = 2.262 * 3.0276503540974917 / math.sqrt(10)          # t(0.975, 9)
    assert s.ci95_low == pytest.approx(5.5 - half)
    assert s.ci95_high == pytest.approx(5.5 + half)
    assert s.cv == pytest.approx(3.0276503540974917 / 5.5)


def test_summary_matches_numpy():
    np = pytest.importorskip("numpy")
    rng = random.Random(1)
    xs = [rng.lognormvariate(1, 0.3) for _ in range(137)]
    s = stats.summarize(xs)
    for q in (50, 90, 99):
        assert s.get(f"p{q}") == pytest.approx(float(np.percentile(xs, q)))
    assert s.std == pytest.approx(float(np.std(xs, ddof=1)))


def test_t_table_and_edge_cases():
    assert stats.t975(1) == pytest.approx(12.706)
    assert stats.t975(30) == pytest.approx(2.042)
    assert 2.000 < stats.t975(50) < 2.021
    assert 1.96 < stats.t975(1000) < 1.963
    assert stats.summarize([]).n is None and stats.summarize([]).why_missing("p50") == "no timed runs"
    one = stats.summarize([4.0])
    assert one.std == 0 and one.ci95_low == one.ci95_high == 4.0


def test_quiet_run_has_no_warnings():
    rng = random.Random(2)
    xs = [10 + rng.gauss(0, 0.2) for _ in range(60)]
    assert stats.warnings_for(xs) == []


def test_noisy_run_is_flagged():
    rng = random.Random(3)
    xs = [10 * rng.choice([1, 1, 1, 2.5]) for _ in range(60)]
    w = stats.warnings_for(xs)
    assert any(x.startswith("noisy:") for x in w)
    assert not any(x.startswith("noisy:") for x in stats.warnings_for(xs, noisy_cv=5.0))


def test_drift_is_flagged_both_ways_and_not_for_flat_noise():
    rng = random.Random(4)
    hot = [10 + 0.05 * i + rng.gauss(0, 0.3) for i in range(80)]   # throttling: +40% over the run
    w = stats.warnings_for(hot)
    assert any(x.startswith("drift:") and "slower" in x for x in w), w
    ramp = list(reversed(hot))
    assert any(x.startswith("drift:") and "faster" in x for x in stats.warnings_for(ramp))
    flat = [10 + rng.gauss(0, 0.3) for _ in range(80)]
    assert not any(x.startswith("drift:") for x in stats.warnings_for(flat))
    # significant but tiny trend (0.5% over the run): not flagged
    tiny = [10 + 0.0006 * i + rng.gauss(0, 0.001) for i in range(80)]
    d = stats.drift(tiny)
    assert d["p"] < 0.01 and abs(d["rel_change"]) < 0.05
    assert not any(x.startswith("drift:") for x in stats.warnings_for(tiny))
    assert stats.drift([1, 2, 3]) is None


def test_analyse_adds_drift_fields():
    s, w = stats.analyse([float(i) for i in range(1, 21)])
    assert isinstance(s, LatencyStats) and s.drift_rho == pytest.approx(1.0) and s.runs == 20
    assert any(x.startswith("drift:") for x in w)
