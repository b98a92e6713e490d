"""Progress of long commands: a rich bar on a terminal, one plain line per finished step otherwise.

    with StepProgress("optimize", total=12) as progress:
        progress.status("int8", "export ptq-int8")        # live status (terminal only)
        progress.done("int8", "built, 203.1 kB")          # a finished step: bar advances / one line

Without a terminal on stderr (CI logs, ``| cat``, files) every finished step prints one line with the
elapsed time and an ETA from the mean time per step so far::

    [optimize  3/12  0:02:10 elapsed, ETA 0:06:30] int8: built, 203.1 kB

``status`` prints nothing there: a log gets one line per step, not a stream of updates. ``note``
prints in both modes. Thread-safe (bench reports from one worker thread per device).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from edgekit import stop


RECENT = 5  # steps the ETA averages over


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class StepProgress:
    def __init__(self, title: str, total: int, *, stream: IO[str] | None = None, plain: bool | None = None,
                 enabled: bool = True):
        self.title = title
        self.total = max(0, int(total))
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.plain = (not isatty()) if plain is None else plain
        self.enabled = enabled
        self.finished = 0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._rows: dict[str, Any] = {}
        self._overall: Any = None
        self._stamps: list[float] = []
        self._steps_t0: float | None = None

    # -- context --------------------------------------------------------------------------------
    def __enter__(self) -> "StepProgress":
        self._t0 = time.monotonic()
        if self.enabled and not self.plain:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[key]:<28}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._bar.__enter__()
            self._overall = self._bar.add_task("", total=self.total or None, key=self.title)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    # -- reporting ------------------------------------------------------------------------------
    def add_total(self, n: int) -> None:
        with self._lock:
            self.total += int(n)
            if self._bar is not None:
                self._bar.update(self._overall, total=self.total)

    def start_steps(self) -> None:
        """The counted steps start now: set-up before them (a search's baseline and teacher) is shown in
        the elapsed time but is not taken for the first step's duration by the ETA."""
        with self._lock:
            if not self._stamps:
                self._steps_t0 = time.monotonic()

    def status(self, key: str, message: str, fraction: float | None = None) -> None:
        """What ``key`` is doing now (``fraction`` of its own work, when known). Terminal only."""
        stop.raise_if_swallowed()   # a Ctrl-C/SIGTERM Python swallowed in a __del__ stops the run here
        if not self.enabled or self._bar is None:
            return
        with self._lock:
            row = self._row(key)
            kw: dict[str, Any] = {"description": message}
            if fraction is not None:
                kw["completed"] = max(0.0, min(1.0, fraction))
            self._bar.update(row, **kw)

    def done(self, key: str, message: str) -> None:
        """One step finished: the overall count advances; without a terminal, one line is printed."""
        try:
            self._done(key, message)
        finally:   # the step is counted and said first
            stop.raise_if_swallowed()   # a Ctrl-C/SIGTERM Python swallowed in a __del__ stops the run here

    def _done(self, key: str, message: str) -> None:
        with self._lock:
            self.finished += 1
            self._stamps.append(time.monotonic())
            if not self.enabled:
                return
            if self._bar is not None:
                row = self._row(key)
                self._bar.update(row, description=message, completed=1.0)
                self._bar.update(self._overall, completed=self.finished)
            else:
                self._line(f"{key}: {message}")

    def note(self, text: str) -> None:
        """A line in both modes (a warning, a skipped step)."""
        try:
            self._note(text)
        finally:
            stop.raise_if_swallowed()

    def _note(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._bar is not None:
                from rich.markup import escape

                self._bar.console.print(escape(text))
            else:
                self._line(text, counted=False)

    # -- internals ------------------------------------------------------------------------------
    def _row(self, key: str) -> Any:
        if key not in self._rows:
            self._rows[key] = self._bar.add_task("", total=1.0, key=key)
        return self._rows[key]

    def eta_seconds(self) -> float | None:
        """Remaining steps x the mean time of the last few steps (a long first step, such as training
        the teacher, does not dominate the estimate for the short steps after it)."""
        if not self.finished or self.total <= self.finished:
            return None if not self.finished else 0.0
        stamps = [self._t0 if self._steps_t0 is None else self._steps_t0, *self._stamps]
        recent = stamps[-(RECENT + 1):]
        per = (recent[-1] - recent[0]) / (len(recent) - 1)
        return per * (self.total - self.finished)

    def _line(self, text: str, counted: bool = True) -> None:
        elapsed = time.monotonic() - self._t0
        if counted:
            eta = self.eta_seconds()
            where = f"{self.finished}/{self.total}" if self.total else f"{self.finished}"
            head = f"[{self.title} {where}  {_clock(elapsed)} elapsed" + (f", ETA {_clock(eta)}" if eta else "") + "]"
        else:
            head = f"[{self.title}  {_clock(elapsed)} elapsed]"
        self.stream.write(f"{head} {text}\n")
        self.stream.flush()
