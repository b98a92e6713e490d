"""Terminal output of ``edgekit bench``: a rich progress bar with ETA (stderr) and a summary table."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as _RichProgress
from rich.table import Table

from edgekit.measurement import Measurement


class Progress:
    """One bar per device plus an overall bar; fed by Sweep events (thread-safe)."""

    def __init__(self, sweep: Any, enabled: bool = True):
        self.sweep = sweep
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._lock = threading.Lock()
        self._p = _RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=not enabled,
        )
        self._tasks: dict[str, Any] = {}
        self._total = None

    def __enter__(self) -> "Progress":
        self._p.__enter__()
        total = self.sweep.total_todo()
        if self.sweep.result.skipped:
            self.console.print(f"[dim]resume: {self.sweep.result.skipped} measurement(s) already stored, {total} to go[/dim]")
        self._total = self._p.add_task("all devices", total=total)
        for d in self.sweep.devices:
            self._tasks[d.serial] = self._p.add_task(f"{d.serial}", total=len(self.sweep.todo[d.serial]))
        return self

    def __exit__(self, *exc: object) -> None:
        self._p.__exit__(*exc)

    def event(self, kind: str, dev: Any, payload: Any) -> None:
        with self._lock:
            task = self._tasks.get(dev.serial)
            if task is None:
                return
            if kind == "start":
                self._p.update(task, description=f"{dev.serial}: {escape(payload.target.name)} ×{payload.threads}t")
            elif kind == "cooldown":
                self._p.update(task, description=f"{dev.serial}: cooling down {payload:g}s")
            elif kind == "done":
                self._p.advance(task)
                self._p.advance(self._total)
                if payload.status != "ok":
                    reason = (payload.reason or "").splitlines()[0][:100] if payload.reason else ""
                    self._p.console.print(f"[yellow]{escape(payload.variant)} on {dev.serial}: {payload.status}[/yellow] {escape(reason)}")
            elif kind == "retry":
                self._p.console.print(f"[yellow]{dev.serial}: adb connection dropped, device still online: retrying once[/yellow]")
            elif kind in ("lost", "error"):
                self._p.update(task, description=f"{dev.serial}: [red]stopped[/red]")


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _host_acc(m: Measurement, host_acc: dict[str, float | None]) -> str:
    """Host accuracy on the same examples as the device (when measured), else the variant's eval.json."""
    same = (m.detail or {}).get("accuracy") or {}
    if same.get("host_accuracy_same_examples") is not None:
        agree = same.get("agreement_with_host")
        return f"{same['host_accuracy_same_examples']:.4f}" + ("" if agree in (None, 1.0) else f" ({agree:.1%} agree)")
    return _f(host_acc.get(m.sha256), "{:.4f}")


def summary_table(ms: Sequence[Measurement], targets: Sequence[Any], result: Any, db: Path) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    host_acc = {t.sha256: t.host_accuracy for t in targets}
    t = Table(title=f"edgekit bench: {len(ms)} measurement(s) in {db}", show_lines=False)
    for col, just in (("variant", "left"), ("device", "left"), ("thr", "right"), ("status", "left"),
                      ("size KB", "right"), ("p50 ms", "right"), ("p90 ms", "right"), ("mean ± 95% CI", "right"),
                      ("CV", "right"), ("peak MiB", "right"), ("acc device", "right"), ("acc host", "right"),
                      ("warnings", "left")):
        t.add_column(col, justify=just, overflow="fold", no_wrap=col in ("variant", "device"))  # type: ignore[arg-type]
    notes: list[str] = []
    for m in sorted(ms, key=lambda m: (m.variant, m.device_serial, m.threads)):
        s = m.stats
        ci = "-"
        if s.mean is not None:
            half = (s.ci95_high - s.mean) if s.ci95_high is not None else None
            ci = f"{s.mean:.3g}" + (f" ± {half:.2g}" if half is not None else "")
        warn = ", ".join(sorted({w.split(":")[0] for w in m.warnings if ":" in w}))
        if m.status != "ok" and m.reason:
            first = m.reason.strip().splitlines()[0]
            line = f"{m.variant} on {m.device_serial}: {m.status}: {first}"
            if line not in notes:
                notes.append(line)
        status = {"ok": "[green]ok[/green]", "incompatible": "[yellow]incompatible[/yellow]"}.get(m.status, f"[red]{m.status}[/red]")
        t.add_row(
            escape(m.variant), m.device_serial, str(m.threads), status,
            _f(m.size_bytes / 1024 if m.size_bytes else None, "{:.1f}"),
            _f(s.get("p50"), "{:.3g}"), _f(s.get("p90"), "{:.3g}"), ci, _f(s.get("cv"), "{:.1%}"),
            _f(m.peak_memory_mb, "{:.1f}"), _f(m.accuracy, "{:.4f}"), _host_acc(m, host_acc), warn,
        )
    console.print(t)
    from edgekit.bench.counted import summary_table as counted_table

    counted_table(console, ms)  # --metric instructions: counts, class mix, estimate
    if any(m.accuracy is not None for m in ms):
        console.print("acc host: the host's tflite-runtime on the same examples as the device (eval.json when no device accuracy)")
    for n in notes:
        console.print(n, markup=False, highlight=False)
    console.print(f"measured now: {result.measured}, already stored and skipped (--resume): {result.skipped}")
