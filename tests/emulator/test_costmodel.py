"""The cost model (edgekit/costmodel.py) on synthetic inputs: estimates from class mixes, the shipped
profiles' models, profiles without one, and bad [cost_model] tables (one-line errors)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from edgekit import costmodel
from edgekit.emulator.counting import CLASSES
from edgekit.emulator.profiles import load_profile
from edgekit.errors import EdgekitError

SHIPPED = Path(__file__).resolve().parents[2] / "devices"


def table(**over):
    t = {"core": "Toy", "clock_mhz": 1.0, "cycles": {c: 1.0 for c in CLASSES}, "sources": ["made up for the test"]}
    t.update(over)
    return t


def test_estimate_is_sum_of_count_times_cycles_over_clock():
    cycles = {c: 1.0 for c in CLASSES} | {"alu": 0.5, "neon_float": 2.0, "other": 3.0}
    model = costmodel.from_table(table(clock_mhz=2.0, cycles=cycles), profile="toy")
    classes = {"alu": 4000, "neon_float": 1000, "ldst": 500, "total": 5500}
    est = costmodel.estimate(classes, model)
    # 4000*0.5 + 1000*2 + 500*1 = 4500 cycles at 2 MHz = 2.25 ms; "total" is not a class
    assert est["cycles"] == 4500
    assert est["ms"] == pytest.approx(2.25)
    assert (est["estimate"], est["core"], est["clock_mhz"], est["profile"]) == (True, "Toy", 2.0, "toy")
    # a class the model has no figure for costs what "other" costs
    assert costmodel.estimate({"future_class": 10}, model)["cycles"] == 30
    assert costmodel.estimate({}, model) == est | {"cycles": 0, "ms": 0.0}


def test_estimate_scales_with_clock_and_mix():
    slow = costmodel.from_table(table(clock_mhz=1000))
    fast = costmodel.from_table(table(clock_mhz=2000))
    mix = {"alu": 1_000_000, "vfp": 250_000}
    assert costmodel.estimate(mix, slow)["ms"] == pytest.approx(2 * costmodel.estimate(mix, fast)["ms"])
    assert costmodel.estimate({"alu": 2_000_000}, slow)["ms"] == pytest.approx(2.0)


def test_shipped_profiles_carry_cited_models():
    low, mid = costmodel.load("armv7-lowend"), costmodel.load("armv7-midrange")
    assert (low.core, low.clock_mhz, low.profile) == ("Cortex-A7", 1300.0, "armv7-lowend")
    assert (mid.core, mid.clock_mhz, mid.profile) == ("Cortex-A15", 1700.0, "armv7-midrange")
    for m in (low, mid):
        assert set(m.cycles) == set(CLASSES) and m.sources
    # 1.3 M ALU instructions at 0.75 cycles on a 1.3 GHz A7: 0.75 ms
    assert costmodel.estimate({"alu": 1_300_000}, low)["ms"] == pytest.approx(0.75)
    # the out-of-order, faster-clocked A15 is estimated faster on a NEON-heavy mix
    mix = {"neon_float": 5_000_000, "simd_ldst": 2_000_000, "alu": 1_000_000, "branch": 100_000}
    assert costmodel.estimate(mix, mid)["ms"] < costmodel.estimate(mix, low)["ms"]
    # a loaded Profile and its path give the same model as its name
    prof = load_profile("armv7-lowend")
    assert costmodel.load(prof) == low == costmodel.load(prof.path)


def test_profile_without_cost_model(tmp_path):
    text = (SHIPPED / "armv7-lowend.toml").read_text()
    plain = tmp_path / "plain.toml"
    plain.write_text(text[:text.index("[cost_model]")].replace('name = "armv7-lowend"', 'name = "plain"'))
    assert load_profile(plain).cost_model is None
    assert costmodel.load(plain) is None
    real = tmp_path / "phone.toml"
    real.write_text('kind = "real"\nserial = "ZY1"\n')
    assert costmodel.load(real) is None


BAD = [
    ("not a table", r"\[cost_model\] must be a table"),
    (table(core=""), "cost_model.core must name the core"),
    (table(core=7), "cost_model.core must name the core"),
    (table(clock_mhz=0), "clock_mhz must be a positive number"),
    (table(clock_mhz=-5), "clock_mhz must be a positive number"),
    (table(clock_mhz="1300"), "clock_mhz must be a positive number"),
    (table(clock_mhz=True), "clock_mhz must be a positive number"),
    (table(clock_mhz=math.inf), "clock_mhz must be a positive number"),
    (table(clock_mhz=math.nan), "clock_mhz must be a positive number"),
    (table(cycles={}), r"\[cost_model.cycles\] must give cycles per instruction class"),
    (table(cycles=[1, 2]), r"\[cost_model.cycles\] must give cycles per instruction class"),
    (table(cycles={c: 1.0 for c in CLASSES} | {"alu": -1}), "cycles.alu must be a number >= 0"),
    (table(cycles={c: 1.0 for c in CLASSES} | {"mul": "fast"}), "cycles.mul must be a number >= 0"),
    (table(cycles={c: 1.0 for c in CLASSES} | {"vfp": math.nan}), "cycles.vfp must be a number >= 0"),
    (table(cycles={c: 1.0 for c in CLASSES if c != "neon_int"}), "cycles lacks neon_int"),
    (table(cycles={c: 1.0 for c in CLASSES} | {"neon_flaot": 2.0}), "unknown class neon_flaot"),
    (table(sources=3), "sources must be a list of strings"),
]


@pytest.mark.parametrize("bad, message", BAD, ids=[m for _, m in BAD])
def test_bad_tables_are_one_line_errors(bad, message):
    with pytest.raises(EdgekitError) as exc:
        costmodel.from_table(bad, where="devices/x.toml")
    line = exc.value.one_line()
    assert re.search(message, line) and line.startswith("devices/x.toml: ") and "\n" not in line


def test_bad_table_in_a_profile_names_the_file(tmp_path):
    text = (SHIPPED / "armv7-lowend.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace("clock_mhz = 1300", "clock_mhz = 0"))
    load_profile(broken)  # the profile itself still loads: only its cost model is wrong
    with pytest.raises(EdgekitError, match=rf"device profile {re.escape(str(broken))}: cost_model.clock_mhz"):
        costmodel.load(broken)
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace("other = 2.0", ""))
    with pytest.raises(EdgekitError) as exc:
        costmodel.load(missing)
    assert "lacks other" in exc.value.one_line() and "give cycles for every class" in exc.value.one_line()


def test_sources_as_one_string():
    assert costmodel.from_table(table(sources="one source")).sources == ("one source",)


def test_mix_and_its_text():
    classes = {"alu": 500, "neon_float": 300, "ldst": 200, "other": 0, "total": 1000}
    m = costmodel.mix(classes)
    assert m == {"alu": 0.5, "neon_float": 0.3, "ldst": 0.2, "other": 0.0}
    assert costmodel.mix_text(classes) == "alu 50% · neon_float 30% · ldst 20%"
    assert costmodel.mix_text(classes, top=2) == "alu 50% · neon_float 30%"
    assert costmodel.mix({}) == {} and costmodel.mix_text({"alu": 0}) == ""


@pytest.mark.parametrize("n, text", [(None, "—"), (0, "0"), (999, "999"), (1000, "1k"), (1_234_567, "1.235M"),
                                      (148_120_612, "148.121M"), (2_000_000_000, "2G"), (-1500, "-1.500k")])
def test_format_count(n, text):
    assert costmodel.format_count(n) == text
