"""Counted records (``--metric instructions``) from synthetic count logs: parsing, the per-invoke
cost, warm-up/timed split, calibration, partial logs, and what ``apply_log`` warns about.

The log format is the instruction-counting plugin's (edgekit/emulator/plugin/insn_count.c)::

    edgekit-insn-count 1 classes=alu,mul,... mark=NR
    mark TAG INDEX TOTAL C0 C1 ... C8 thumb=N
"""

from edgekit import costmodel
from edgekit.bench import counted
from edgekit.bench.counted import (TAG_BEGIN, TAG_CAL_BEGIN, TAG_CAL_END, TAG_DONE, TAG_END, TAG_IMPORTED,
                                   TAG_LOADED, apply_log, record)
from edgekit.emulator.counting import CLASSES
from edgekit.measurement import Measurement

HEADER = f"edgekit-insn-count 1 classes={','.join(CLASSES)} mark=60864\n"


class Log:
    """Running counters; ``mark`` writes one line with the totals so far (as the plugin does)."""

    def __init__(self):
        self.counts = dict.fromkeys(CLASSES, 0)
        self.thumb = 0
        self.lines = [HEADER]

    def run(self, thumb=0, **by_class):
        for k, v in by_class.items():
            self.counts[k] += v
        self.thumb += thumb
        return self

    def mark(self, tag, index=0):
        total = sum(self.counts.values())
        nums = " ".join(str(self.counts[c]) for c in CLASSES)
        self.lines.append(f"mark {tag} {index} {total} {nums} thumb={self.thumb}\n")
        return self

    def text(self):
        return "".join(self.lines)


CAL = 40          # the marks' own cost (an empty begin/end pair)


def counted_run(invokes, warmup=1, done=True):
    """imports -> load -> calibration pair -> invokes (each between marks 3/4, plus the marks' cost)."""
    log = Log().run(alu=5000).mark(TAG_IMPORTED).run(alu=700, ldst=300).mark(TAG_LOADED)
    log.mark(TAG_CAL_BEGIN).run(alu=CAL).mark(TAG_CAL_END)
    for i, work in enumerate(invokes):
        log.mark(TAG_BEGIN, i).run(alu=CAL).run(**work).mark(TAG_END, i)
    if done:
        log.run(alu=9).mark(TAG_DONE)
    return log.text()


INVOKE = {"alu": 600, "mul": 100, "neon_int": 250, "ldst": 50, "thumb": 30}


def test_per_invoke_is_the_smallest_timed_invoke_without_the_marks_cost():
    noisy = dict(INVOKE, alu=INVOKE["alu"] + 100)           # the allocator's extra pool in one window
    text = counted_run([dict(INVOKE, alu=900), INVOKE, noisy, INVOKE, INVOKE], warmup=1)
    rec = record(text, warmup=1, runs=3, profile="armv7-lowend")
    assert rec["first_invoke"] == 900 + 100 + 250 + 50
    assert rec["warmup"] == [1000] and rec["timed"] == [1100, 1000, 1000]
    assert rec["per_invoke"] == 1000 and rec["timed_spread"] == 100 and rec["deterministic"] is False
    assert rec["classes"]["alu"] == 600 and rec["classes"]["neon_int"] == 250 and sum(rec["classes"].values()) == 1000
    assert rec["thumb_share"] == 30 / 1000
    assert rec["load"] == 1000 and rec["load_classes"]["ldst"] == 300
    assert rec["mark_overhead"] == CAL and rec["complete"] is True and rec["marks"] == 2 + 2 + 2 * 5 + 1
    assert rec["unit"] == "guest instructions"


def test_estimates_come_from_the_shipped_cost_models():
    rec = record(counted_run([INVOKE, INVOKE, INVOKE]), warmup=1, runs=1, profile="armv7-lowend")
    model = costmodel.load("armv7-lowend")
    assert rec["estimate"] == costmodel.estimate(rec["classes"], model) and rec["estimate"]["ms"] > 0
    assert {"armv7-lowend", "armv7-midrange"} <= set(rec["estimates"])
    assert record(counted_run([INVOKE, INVOKE]), 1, 1, profile=None)["estimate"] is None     # no profile: none chosen


def test_identical_invokes_are_deterministic():
    rec = record(counted_run([INVOKE] * 6), warmup=2, runs=3, profile=None)
    assert rec["deterministic"] is True and rec["timed_spread"] == 0 and len(rec["timed"]) == 3


def test_a_killed_guest_leaves_a_partial_but_usable_record():
    text = counted_run([INVOKE, INVOKE, INVOKE], warmup=1, done=False)
    text += "mark 3 3 12"                                # the unfinished last line is ignored
    rec = record(text, warmup=1, runs=5, profile=None)
    assert rec["complete"] is False and rec["timed"] == [1000] and rec["per_invoke"] == 1000


def test_no_invoke_reached():
    text = Log().run(alu=10).mark(TAG_IMPORTED).text()
    rec = record(text, warmup=0, runs=3, profile=None)
    assert rec["per_invoke"] is None and rec["classes"] == {} and rec["load"] is None and rec["complete"] is False


def _m(profile="armv7-lowend"):
    return Measurement("int8", "a" * 64, "emu", {"profile": profile}, "python", 1, {"metric": "instructions"})


def test_apply_log_fills_the_measurement_and_warns_when_counts_differ():
    m = _m()
    apply_log(m, counted_run([INVOKE] * 4), warmup=1, runs=3, probe_info={"cpu": "cortex-a7", "plugin": "x.so"})
    assert m.instructions["per_invoke"] == 1000 and m.instructions["qemu_cpu"] == "cortex-a7"
    assert m.instructions["estimate"]["core"] == "Cortex-A7" and m.warnings == []
    m = _m()
    apply_log(m, counted_run([INVOKE, INVOKE, dict(INVOKE, alu=700)]), warmup=0, runs=3, probe_info=None)
    assert m.warnings == ["timed invokes differ by 100 instructions (more than 1%): does the model's work "
                          "depend on its input or state?"]
    m = _m()
    apply_log(m, Log().mark(TAG_IMPORTED).text(), warmup=0, runs=3, probe_info=None)
    assert m.instructions["per_invoke"] is None
    assert m.warnings == ["the counted run reached no invoke: no per-invoke instruction count"]


def test_the_probe_banner_and_the_command_are_quoted():
    cmd = counted.command(["python3", "x; rm -rf /.py"], "/data/local/tmp/edgekit/out/a b.counts", "/data/local/tmp/edgekit")
    assert cmd.startswith("edgekit-counted --out '/data/local/tmp/edgekit/out/a b.counts' --cwd /data/local/tmp/edgekit -- ")
    assert cmd.endswith("python3 'x; rm -rf /.py'")
