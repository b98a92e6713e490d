"""What a sweep tells the world, as one typed protocol.

A sweep calls its listeners in the order given (the SQLite store first, so a measurement is stored
before anyone shows it), one event at a time (the sweep serialises the calls of its device threads)::

    on_sweep_start(plan)                   the jobs of every device (skipped ones counted)
    on_measurement_start(device, job)      a device starts one job
    on_cooldown(device, seconds)           a device rests between models (--cooldown)
    on_measurement(device, measurement)    a job's Measurement exists
    on_retry(device, error)                the adb connection dropped, the device is back: retried once
    on_device_stopped(device, error, lost) a device's worker ended early (lost: it stopped answering)
    on_sweep_end(result)                   always, also after Ctrl-C (``result.interrupted``)

Implementations: :class:`edgekit.bench.store.Store` (every measurement, the moment it exists),
:class:`edgekit.bench.ui.ProgressListener` (a bar on a terminal, one line per measurement in a
log), :class:`edgekit.bench.ui.SummaryListener` (the table) and :class:`JsonListener` (``--json``).
Subclass :class:`Listener` to implement only some events.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from edgekit.bench.device import Device
    from edgekit.bench.sweep import Job, SweepPlan, SweepResult
    from edgekit.measurement import Measurement


@runtime_checkable
class BenchListener(Protocol):
    def on_sweep_start(self, plan: "SweepPlan") -> None: ...

    def on_measurement_start(self, device: "Device", job: "Job") -> None: ...

    def on_cooldown(self, device: "Device", seconds: float) -> None: ...

    def on_measurement(self, device: "Device", measurement: "Measurement") -> None: ...

    def on_retry(self, device: "Device", error: Exception) -> None: ...

    def on_device_stopped(self, device: "Device", error: Exception, lost: bool) -> None: ...

    def on_sweep_end(self, result: "SweepResult") -> None: ...


class Listener:
    """A listener that ignores every event: subclass it and override what you need."""

    def on_sweep_start(self, plan: "SweepPlan") -> None:
        pass

    def on_measurement_start(self, device: "Device", job: "Job") -> None:
        pass

    def on_cooldown(self, device: "Device", seconds: float) -> None:
        pass

    def on_measurement(self, device: "Device", measurement: "Measurement") -> None:
        pass

    def on_retry(self, device: "Device", error: Exception) -> None:
        pass

    def on_device_stopped(self, device: "Device", error: Exception, lost: bool) -> None:
        pass

    def on_sweep_end(self, result: "SweepResult") -> None:
        pass


EVENTS = tuple(name for name in vars(Listener) if name.startswith("on_"))


class Broadcast(Listener):
    """Several listeners as one; calls are serialised (device threads report concurrently) and go
    to each listener in order. An exception in one propagates (a store that cannot write must stop
    the device's worker, as it did before listeners)."""

    def __init__(self, listeners: Sequence[BenchListener] = ()):
        for lst in listeners:
            missing = [e for e in EVENTS if not callable(getattr(lst, e, None))]
            if missing:
                raise TypeError(f"{type(lst).__name__} is not a bench listener (no {', '.join(missing)}); "
                                "subclass edgekit.bench.listeners.Listener")
        self.listeners = list(listeners)
        self._lock = threading.RLock()

    def _call(self, event: str, *args: Any) -> None:
        with self._lock:
            for lst in self.listeners:
                getattr(lst, event)(*args)

    def on_sweep_start(self, plan):
        self._call("on_sweep_start", plan)

    def on_measurement_start(self, device, job):
        self._call("on_measurement_start", device, job)

    def on_cooldown(self, device, seconds):
        self._call("on_cooldown", device, seconds)

    def on_measurement(self, device, measurement):
        self._call("on_measurement", device, measurement)

    def on_retry(self, device, error):
        self._call("on_retry", device, error)

    def on_device_stopped(self, device, error, lost):
        self._call("on_device_stopped", device, error, lost)

    def on_sweep_end(self, result):
        self._call("on_sweep_end", result)


class JsonListener(Listener):
    """``--json``: at the end of the sweep, the database path, counts, errors and every measurement
    of the sweep's keys (also those skipped by ``--resume``). Nothing after Ctrl-C."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream

    @staticmethod
    def payload(result: "SweepResult") -> dict[str, Any]:
        return {
            "db": str(result.db),
            "measured": result.measured,
            "skipped": result.skipped,
            "errors": dict(result.errors),
            "measurements": [m.to_dict() for m in result.measurements],
        }

    def on_sweep_end(self, result: "SweepResult") -> None:
        if result.interrupted:
            return
        out = self.stream or sys.stdout
        out.write(json.dumps(self.payload(result), indent=2, default=str) + "\n")
        out.flush()
