"""The sweep: targets x devices x thread counts, devices in parallel (one worker thread each).

Planning is pure (:func:`plan`: jobs, keys, what ``--resume`` skips); :class:`Sweep` runs a plan.
Every Measurement goes to the listeners the moment it exists, the store first. With ``resume``
keys already stored with status ok/incompatible are skipped, so an interrupted sweep continues
where it stopped and measures nothing twice. A target that cannot be loaded on a device is
measured once; its other thread counts get the same ``incompatible`` record without re-running
(:func:`derived_incompatible`). A device that stops answering ends its worker with
:class:`DeviceLost`; the other devices finish, and the result names the lost device(s).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

from edgekit.bench.device import DeviceLost
from edgekit.bench.evalset import EvalSet
from edgekit.bench.listeners import Broadcast, BenchListener
from edgekit.bench.params import BenchParams
from edgekit.bench.runner import base_measurement, make_runner
from edgekit.bench.store import Store, key_for
from edgekit.bench.targets import Target
from edgekit.clock import utc_now
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement


@dataclass(frozen=True)
class Job:
    target: Target
    threads: int
    key: str


@dataclass
class SweepPlan:
    """What a sweep will do: every device's jobs, and those still to run (``todo``)."""

    targets: list[Target]
    devices: list[Any]                      # bench Devices (only .serial and .info are used to plan)
    params: BenchParams
    eval: EvalSet | None
    jobs: dict[str, list[Job]]              # serial -> every job of this sweep
    todo: dict[str, list[Job]]              # serial -> jobs not already stored (resume)

    @property
    def skipped(self) -> int:
        return sum(len(j) - len(self.todo[s]) for s, j in self.jobs.items())

    @property
    def total_todo(self) -> int:
        return sum(len(v) for v in self.todo.values())

    def keys(self) -> list[str]:
        return [j.key for jobs in self.jobs.values() for j in jobs]


@dataclass
class SweepResult:
    measurements: list[Measurement] = field(default_factory=list)   # this sweep's keys, from the store
    measured: int = 0                                               # newly measured now
    skipped: int = 0                                                # already stored (--resume)
    errors: dict[str, str] = field(default_factory=dict)            # serial -> one-line error
    lost: list[str] = field(default_factory=list)                   # serials that stopped answering
    interrupted: bool = False                                       # Ctrl-C ended the sweep
    db: Path | None = None                                          # the store's file


def measurement_config(params: BenchParams, ev: EvalSet | None) -> dict[str, Any]:
    return params.measurement_config(ev.sha256 if ev else None, ev.n if ev else None)


def plan(targets: Sequence[Target], devices: Sequence[Any], params: BenchParams, ev: EvalSet | None = None,
         done: Collection[str] = ()) -> SweepPlan:
    """Jobs per device: every target with every thread count, in that order (a target's thread
    counts are consecutive); ``done`` keys (stored ok/incompatible) are left out of ``todo``."""
    conf = measurement_config(params, ev)
    jobs = {d.serial: [Job(t, th, key_for(t.sha256, d.serial, params.runner, th, conf, t.name))
                       for t in targets for th in params.threads] for d in devices}   # type: ignore[union-attr]
    done = set(done)
    todo = {s: [j for j in js if j.key not in done] for s, js in jobs.items()}
    return SweepPlan(list(targets), list(devices), params, ev, jobs, todo)


def derived_incompatible(t: Target, dev: Any, threads: int, params: BenchParams, ev: EvalSet | None,
                         reason: str | None) -> Measurement:
    """The record of a thread count not run because the same model failed to load on this device."""
    m = base_measurement(t, dev, threads, params, ev)
    m.status = "incompatible"
    m.reason = reason
    m.warnings.append("not re-run: the same model failed to load on this device with another thread count")
    m.finished = utc_now()
    return m


class Sweep:
    def __init__(self, sweep_plan: SweepPlan, store: Store, listeners: Sequence[BenchListener] = ()):
        self.plan = sweep_plan
        self.store = store
        self.events = Broadcast([store, *listeners])
        self.stop = threading.Event()
        self.result = SweepResult(skipped=sweep_plan.skipped, db=store.path)
        self._lock = threading.Lock()

    # -- one device --------------------------------------------------------------------------------
    def _worker(self, dev: Any) -> None:
        jobs = self.plan.todo[dev.serial]
        if not jobs:
            return
        params, ev = self.plan.params, self.plan.eval
        try:
            runner = make_runner(params, ev)
            dev.ensure_online()
            dev.info.setdefault("runtime", {}).update(self._retry_transient(dev, lambda: runner.prepare(dev))[0])
            incompatible: dict[str, str | None] = {}
            last_sha = None
            for job in jobs:
                if self.stop.is_set():
                    return
                t = job.target
                if last_sha is not None and t.sha256 != last_sha and params.cooldown > 0:
                    self.events.on_cooldown(dev, params.cooldown)
                    if self.stop.wait(params.cooldown):
                        return
                last_sha = t.sha256
                self.events.on_measurement_start(dev, job)
                if t.invalid is not None:   # the flatbuffer pre-check (edgekit inspect's): never pushed
                    m = base_measurement(t, dev, job.threads, params, ev)
                    m.status, m.reason, m.finished = "failed", f"not a valid .tflite: {t.invalid}", utc_now()
                elif t.sha256 in incompatible:
                    m = derived_incompatible(t, dev, job.threads, params, ev, incompatible[t.sha256])
                else:
                    m = self._run_once_more_if_transient(runner, dev, job)
                    if m.status == "incompatible":
                        incompatible[t.sha256] = m.reason
                self.events.on_measurement(dev, m)     # the store first: saved before it is shown
                with self._lock:
                    self.result.measured += 1
        except DeviceLost as exc:
            with self._lock:
                self.result.errors[dev.serial] = exc.one_line()
                self.result.lost.append(dev.serial)
            self.events.on_device_stopped(dev, exc, True)
        except EdgekitError as exc:
            with self._lock:
                self.result.errors[dev.serial] = exc.one_line()
            self.events.on_device_stopped(dev, exc, False)
        except Exception as exc:  # noqa: BLE001 - report, never lose the others' results
            with self._lock:
                self.result.errors[dev.serial] = f"device {dev.serial}: {type(exc).__name__}: {exc}"
            self.events.on_device_stopped(dev, exc, False)

    def _retry_transient(self, dev: Any, fn: Callable[[], Any]) -> tuple[Any, DeviceLost | None]:
        """Run ``fn``; a lost connection on a device that is online again right after (a dropped adb
        stream, a restarted adb server) is retried once; a device that stays gone raises DeviceLost."""
        try:
            return fn(), None
        except DeviceLost as first:
            if self.stop.is_set():
                raise
            time.sleep(1.0)
            dev.ensure_online()          # raises DeviceLost when it is really gone
            self.events.on_retry(dev, first)
            return fn(), first

    def _run_once_more_if_transient(self, runner: Any, dev: Any, job: Job) -> Measurement:
        m, first = self._retry_transient(dev, lambda: runner.run(dev, job.target, job.threads))
        if first is not None:
            m.warnings.append(f"retried once after a transient adb error: {first.detail}")
        return m

    def run(self) -> SweepResult:
        self.events.on_sweep_start(self.plan)
        workers = [threading.Thread(target=self._worker, args=(d,), name=f"bench-{d.serial}", daemon=True)
                   for d in self.plan.devices]
        try:
            for w in workers:
                w.start()
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            self.result.interrupted = True
            raise
        finally:
            got = [self.store.get(k) for k in self.plan.keys()]
            self.result.measurements = [m for m in got if m is not None]
            self.events.on_sweep_end(self.result)
        return self.result
