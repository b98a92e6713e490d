"""edgekit.progress: one plain line per finished step (with elapsed time and ETA) when nobody watches a terminal."""

from __future__ import annotations

import io

from edgekit import progress as progress_mod
from edgekit.progress import StepProgress


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_one_per_finished_step(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    out = io.StringIO()
    with StepProgress("optimize", total=3, stream=out) as p:   # a StringIO is not a terminal: plain lines
        assert p.plain
        p.status("int8", "export ptq-int8", 0.5)                # live status: nothing in a log
        clock.t += 60
        p.done("teacher", "trained (3 epochs)")
        clock.t += 10
        p.done("int8", "built, 211.4 kB")
        p.note("warning: something to know")
        clock.t += 10
        p.done("dynamic", "built")
    lines = out.getvalue().splitlines()
    assert lines == [
        "[optimize 1/3  0:01:00 elapsed, ETA 0:02:00] teacher: trained (3 epochs)",
        "[optimize 2/3  0:01:10 elapsed, ETA 0:00:35] int8: built, 211.4 kB",
        "[optimize  0:01:10 elapsed] warning: something to know",
        "[optimize 3/3  0:01:20 elapsed] dynamic: built",
    ]


def test_eta_follows_the_recent_steps_not_a_long_first_one(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    p = StepProgress("bench", total=20, stream=io.StringIO())
    with p:
        clock.t += 600                      # a long first step (the teacher)
        p.done("teacher", "trained")
        for i in range(progress_mod.RECENT):
            clock.t += 10
            p.done(f"v{i}", "built")
        # 14 steps left at the recent pace of 10 s each, not at the overall mean (650 s / 6 steps)
        assert p.eta_seconds() == 140.0


def test_disabled_prints_nothing_and_total_can_grow():
    out = io.StringIO()
    with StepProgress("x", total=1, stream=out, enabled=False) as p:
        p.add_total(2)
        p.done("a", "done")
        p.note("n")
    assert out.getvalue() == "" and p.total == 3 and p.finished == 1


def test_set_up_before_the_steps_is_elapsed_time_not_a_step(monkeypatch):
    """A search trains its teacher (25 min) before trial 1 (10 min): the ETA after trial 1 is 39 x 10 min."""
    clock = Clock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    out = io.StringIO()
    with StepProgress("search", total=40, stream=out) as p:
        clock.t += 1500
        p.note("teacher: trained")
        p.start_steps()
        clock.t += 600
        p.done("trial-0000", "40.5 kB")
        assert p.eta_seconds() == 39 * 600.0
    assert out.getvalue().splitlines()[-1] == "[search 1/40  0:35:00 elapsed, ETA 6:30:00] trial-0000: 40.5 kB"
