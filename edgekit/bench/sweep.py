"""The sweep: targets x devices x thread counts, devices in parallel (one worker thread each).

On an emulated device ``--jobs N`` runs N measurements at the same time (:class:`Lanes`: a
measurement holds one slot per thread, so N host cores are never oversubscribed); its headline, the
instruction-count estimate, does not depend on it. One that the device's memory cap killed while
another shared the cap is measured again alone. A real phone measures one at a time.

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Sequence

from edgekit.bench.device import DeviceLost, identity
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
    jobs = {d.serial: [Job(t, th, key_for(t.sha256, identity(d), params.runner, th, conf, t.name))
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


class Lanes:
    """The jobs of one device shared by ``jobs`` lanes, and its ``jobs`` slots: a measurement holds one
    slot per thread it runs (``--threads 2`` takes two), so the host's cores are never oversubscribed.
    A lane takes the first job that fits the free slots; a measurement to be made alone has priority."""

    def __init__(self, jobs: int, todo: Sequence[Job]):
        self.jobs = jobs
        self._todo = list(todo)
        self._free = jobs
        self._cond = threading.Condition()
        self._closed = False
        self._alone_waiting = 0

    def need(self, job: Job) -> int:
        return max(1, min(job.threads, self.jobs))

    def take(self) -> Job | None:
        """The next job, its slots already held (release them with :meth:`release`); None when done."""
        with self._cond:
            while True:
                if self._closed or not self._todo:
                    return None
                if not self._alone_waiting:
                    for i, job in enumerate(self._todo):
                        if self.need(job) <= self._free:
                            self._free -= self.need(job)
                            return self._todo.pop(i)
                self._cond.wait()

    def release(self, n: int) -> None:
        with self._cond:
            self._free += n
            self._cond.notify_all()

    def shared(self, job: Job) -> bool:
        """Whether another measurement may run beside ``job``."""
        return self.need(job) < self.jobs

    @contextmanager
    def alone(self, held: int) -> Iterator[None]:
        """Give back ``held`` slots, wait for every slot, hold them all (then give back ``held``)."""
        with self._cond:
            self._alone_waiting += 1
            self._free += held
            self._cond.notify_all()
            while self._free < self.jobs:
                self._cond.wait()
            self._free = 0
            self._alone_waiting -= 1
        try:
            yield
        finally:
            with self._cond:
                self._free = self.jobs - held
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._todo.clear()
            self._cond.notify_all()


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
            lanes = Lanes(params.jobs, jobs)
            incompatible: dict[str, str | None] = {}
            if params.jobs == 1:
                self._lane(dev, runner, lanes, incompatible)
                return
            errors: list[BaseException] = []

            def lane() -> None:
                try:
                    self._lane(dev, runner, lanes, incompatible)
                except BaseException as exc:  # noqa: BLE001 - the device's worker reports it below
                    errors.append(exc)
                    lanes.close()

            threads = [threading.Thread(target=lane, name=f"bench-{dev.serial}-{i}", daemon=True)
                       for i in range(params.jobs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
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

    def _lane(self, dev: Any, runner: Any, lanes: "Lanes", incompatible: dict[str, str | None]) -> None:
        """Measure jobs from ``lanes`` until none is left (one lane per ``--jobs``)."""
        last_sha = None
        while not self.stop.is_set():
            job = lanes.take()
            if job is None:
                return
            try:
                self._job(dev, runner, lanes, job, incompatible, last_sha)
            finally:
                lanes.release(lanes.need(job))
            last_sha = job.target.sha256

    def _job(self, dev: Any, runner: Any, lanes: "Lanes", job: Job, incompatible: dict[str, str | None],
             last_sha: str | None) -> None:
        """One job: the cooldown after another model, the pre-checks, the measurement, the listeners."""
        params, ev = self.plan.params, self.plan.eval
        t = job.target
        if last_sha is not None and t.sha256 != last_sha and params.cooldown > 0:
            self.events.on_cooldown(dev, params.cooldown)
            if self.stop.wait(params.cooldown):
                return
        self.events.on_measurement_start(dev, job)
        if t.invalid is not None:   # the flatbuffer pre-check (edgekit inspect's): never pushed
            m = base_measurement(t, dev, job.threads, params, ev)
            m.status, m.reason, m.finished = "failed", f"not a valid .tflite: {t.invalid}", utc_now()
        elif t.sha256 in incompatible:
            m = derived_incompatible(t, dev, job.threads, params, ev, incompatible[t.sha256])
        else:
            m = self._measure(runner, dev, job, lanes)
            if m.status == "incompatible":
                incompatible[t.sha256] = m.reason
        self.events.on_measurement(dev, m)     # the store first: saved before it is shown
        with self._lock:
            self.result.measured += 1

    def _measure(self, runner: Any, dev: Any, job: Job, lanes: "Lanes") -> Measurement:
        """One measurement (its slots held by the lane); killed by the device's memory cap while
        others could share it: measured again alone."""
        shared = lanes.shared(job)
        m = self._run_once_more_if_transient(runner, dev, job)
        if shared and m.status == "oom":
            with lanes.alone(lanes.need(job)):
                m = self._run_once_more_if_transient(runner, dev, job)
            m.warnings.append("measured again alone: out of memory while another measurement shared the "
                              "device's memory cap (--jobs)")
            shared = False
        if lanes.jobs > 1:
            m.detail["jobs"] = lanes.jobs
            m.detail["measured_alone"] = not shared
        return m

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
