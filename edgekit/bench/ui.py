"""What ``edgekit bench`` shows: progress (a listener on stderr) and the summary table (a listener on stdout).

Progress goes through :class:`edgekit.progress.StepProgress`: a rich bar per device on a terminal;
without one (a CI log, ``| cat``) one plain line per finished measurement with elapsed time and ETA::

    [bench 3/8  0:00:41 elapsed, ETA 0:01:09] 127.0.0.1:5600: int8 ×1t ok, p50 1.52 ms
"""

from __future__ import annotations

from typing import IO, Any, Sequence

from edgekit.bench.listeners import Listener
from edgekit.measurement import Measurement
from edgekit.metrics import METRICS
from edgekit.progress import StepProgress

_SIZE, _LATENCY, _MEMORY, _ACCURACY = (METRICS[k].format for k in ("size", "latency", "memory", "accuracy"))


def _first_line(text: str | None, limit: int = 100) -> str:
    return (text or "").strip().splitlines()[0][:limit] if (text or "").strip() else ""


def measurement_line(m: Measurement) -> str:
    """One line for a finished measurement: what, status, the median or the reason."""
    head = f"{m.variant} ×{m.threads}t {m.status}"
    if m.status != "ok":
        return f"{head}: {_first_line(m.reason)}" if m.reason else head
    p50 = m.stats.get("p50")
    est = (m.instructions or {}).get("estimate") or {}
    emulated = " emulated" if (m.device or {}).get("emulated") else ""
    parts = [f"{_LATENCY(est['ms'])} {est.get('label') or 'est.'}" if est.get("ms") is not None else None,
             f"p50{emulated} {_LATENCY(p50)}" if p50 is not None else None,
             f"{m.instructions['per_invoke']:,} instr./invoke" if (m.instructions or {}).get("per_invoke") else None,
             f"accuracy {_ACCURACY(m.accuracy)}" if m.accuracy is not None else None]
    parts = [p for p in parts if p]
    return head + (", " + ", ".join(parts) if parts else "")


class ProgressListener(Listener):
    """Progress of a sweep on stderr (``plain``: None = plain lines unless stderr is a terminal)."""

    def __init__(self, stream: IO[str] | None = None, plain: bool | None = None, title: str = "bench"):
        self.stream, self.plain, self.title = stream, plain, title
        self.progress: StepProgress | None = None
        self._left: dict[str, int] = {}

    def on_sweep_start(self, plan: Any) -> None:
        self._left = {s: len(j) for s, j in plan.todo.items()}
        self.progress = StepProgress(self.title, total=plan.total_todo, stream=self.stream, plain=self.plain)
        self.progress.__enter__()
        if plan.skipped:
            self.progress.note(f"resume: {plan.skipped} measurement(s) already stored, {plan.total_todo} to go")

    def on_measurement_start(self, device: Any, job: Any) -> None:
        if self.progress:
            self.progress.status(device.serial, f"{job.target.name} ×{job.threads}t")

    def on_cooldown(self, device: Any, seconds: float) -> None:
        if self.progress:
            self.progress.status(device.serial, f"cooling down {seconds:g}s")

    def on_measurement(self, device: Any, measurement: Measurement) -> None:
        if not self.progress:
            return
        self._left[device.serial] = self._left.get(device.serial, 1) - 1
        line = measurement_line(measurement)
        self.progress.done(device.serial, line)
        if measurement.status != "ok" and not self.progress.plain:   # a bar row only shows the latest
            self.progress.note(f"{device.serial}: {line}")

    def on_retry(self, device: Any, error: Exception) -> None:
        if self.progress:
            self.progress.note(f"{device.serial}: adb connection dropped, device still online: retrying once")

    def on_device_stopped(self, device: Any, error: Exception, lost: bool) -> None:
        if not self.progress:
            return
        left = self._left.pop(device.serial, 0)
        if left:
            self.progress.add_total(-left)        # its remaining jobs will not run: the ETA says so
        self.progress.status(device.serial, "stopped")
        self.progress.note(f"{device.serial}: stopped" + (" (lost)" if lost else "") + f", {left} measurement(s) not made")

    def on_sweep_end(self, result: Any) -> None:
        if self.progress:
            self.progress.__exit__(None, None, None)
            self.progress = None


class SummaryListener(Listener):
    """The summary table on stdout when the sweep ends (nothing after Ctrl-C)."""

    def __init__(self, console: Any = None):
        self.console = console
        self.targets: Sequence[Any] = ()

    def on_sweep_start(self, plan: Any) -> None:
        self.targets = plan.targets

    def on_sweep_end(self, result: Any) -> None:
        if not result.interrupted:
            summary_table(result.measurements, self.targets, result, result.db, console=self.console)


def _host_acc(m: Measurement, host_acc: dict[str, float | None]) -> str:
    """Host accuracy on the same examples as the device (when measured), else the variant's eval.json."""
    same = (m.detail or {}).get("accuracy") or {}
    if same.get("host_accuracy_same_examples") is not None:
        agree = same.get("agreement_with_host")
        return _ACCURACY(same["host_accuracy_same_examples"]) + ("" if agree in (None, 1.0) else f" ({agree:.1%} agree)")
    return _ACCURACY(host_acc.get(m.sha256))


def summary_table(ms: Sequence[Measurement], targets: Sequence[Any], result: Any, db: Any, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    host_acc = {t.sha256: t.host_accuracy for t in targets}
    emulated = any((m.device or {}).get("emulated") for m in ms)
    est = next((((m.instructions or {}).get("estimate") or {}) for m in ms
                if ((m.instructions or {}).get("estimate") or {}).get("ms") is not None), None)
    t = Table(title=f"edgekit bench: {len(ms)} measurement(s) in {db}", show_lines=False)
    emu = " emulated (qemu)" if emulated else ""
    cols = [("variant", "left"), ("device", "left"), ("thr", "right"), ("status", "left"), ("size", "right")]
    if est:   # the headline on the emulated device: the estimated phone latency, then qemu's wall clock
        from edgekit.costmodel import label_of

        cols.append((f"latency {label_of(est)}", "right"))
    cols += [("p50" + emu, "right"), ("p90" + emu, "right"), ("mean ± 95% CI", "right"), ("CV", "right")]
    if emulated:
        cols.append(("model memory (peak − empty run)", "right"))
    cols += [("peak memory" + (" (process, qemu incl.)" if emulated else ""), "right"), ("acc device", "right"),
             ("acc host", "right"), ("warnings", "left")]
    for col, just in cols:
        t.add_column(col, justify=just, overflow="fold", no_wrap=col in ("variant", "device"))  # type: ignore[arg-type]
    notes: list[str] = []
    for m in sorted(ms, key=lambda m: (m.variant, m.device_serial, m.threads)):
        s = m.stats
        ci = _LATENCY(None)
        if s.mean is not None:
            half = (s.ci95_high - s.mean) if s.ci95_high is not None else None
            ci = _LATENCY(s.mean) + (f" ± {half:.2g}" if half is not None else "")
        warn = ", ".join(sorted({w.split(":")[0] for w in m.warnings if ":" in w}))
        if m.status != "ok" and m.reason:
            line = f"{m.variant} on {m.device_serial}: {m.status}: {m.reason.strip().splitlines()[0]}"
            if line not in notes:
                notes.append(line)
        status = {"ok": "[green]ok[/green]", "incompatible": "[yellow]incompatible[/yellow]"}.get(m.status, f"[red]{m.status}[/red]")
        row = [escape(m.variant), m.device_serial, str(m.threads), status, _SIZE(m.size_bytes)]
        if est:
            row.append(_LATENCY(((m.instructions or {}).get("estimate") or {}).get("ms")))
        row += [_LATENCY(s.get("p50")), _LATENCY(s.get("p90")), ci, "—" if s.get("cv") is None else f"{s.cv:.1%}"]
        if emulated:
            row.append(_MEMORY(((m.detail or {}).get("memory") or {}).get("model_share_mb")))
        row += [_MEMORY(m.peak_memory_mb), _ACCURACY(m.accuracy), _host_acc(m, host_acc), warn]
        t.add_row(*row)
    console.print(t)
    from edgekit.bench.counted import summary_table as counted_table

    counted_table(console, ms)  # --metric instructions: counts, class mix, estimate
    missing = sorted({f"{m.runner}: {m.stats.unavailable['p90']}" for m in ms
                      if m.status == "ok" and m.stats.get("p90") is None and m.stats.unavailable.get("p90")})
    for why in missing:   # said by name, never a silent "-"
        console.print(f"p90 —: {why}", markup=False, highlight=False)
    if any(m.accuracy is not None for m in ms):
        console.print("acc host: the host's tflite-runtime on the same examples as the device (eval.json when no device accuracy)")
    for n in notes:
        console.print(n, markup=False, highlight=False)
    console.print(f"measured now: {result.measured}, already stored and skipped (--resume): {result.skipped}")
