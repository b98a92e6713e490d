"""The sweep: targets x devices x thread counts, devices in parallel (one worker thread each).

Every Measurement is stored (``OUT/bench.sqlite``) the moment it exists. With ``resume=True``
keys already stored with status ok/incompatible are skipped, so an interrupted sweep continues
where it stopped and measures nothing twice. A target that cannot be loaded on a device is
measured once; its other thread counts get the same ``incompatible`` record without re-running.
A device that stops answering ends its worker with :class:`DeviceLost`; the other devices finish,
then the sweep raises one error naming the lost device(s).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edgekit.bench.device import Device, DeviceLost
from edgekit.bench.runner import BenchConfig, Target, make_runner, now
from edgekit.bench.store import Store, key_for
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement


@dataclass
class Job:
    target: Target
    threads: int
    key: str


@dataclass
class SweepResult:
    measurements: list[Measurement] = field(default_factory=list)   # this sweep's keys, from the store
    measured: int = 0                                               # newly measured now
    skipped: int = 0                                                # already stored (--resume)
    errors: dict[str, str] = field(default_factory=dict)            # serial -> one-line error
    lost: list[str] = field(default_factory=list)                   # serials that stopped answering


def plan(targets: Sequence[Target], dev: Device, threads: Sequence[int], cfg: BenchConfig) -> list[Job]:
    conf = cfg.measurement_config()
    return [Job(t, th, key_for(t.sha256, dev.serial, cfg.runner, th, conf, t.name)) for t in targets for th in threads]


class Sweep:
    def __init__(
        self,
        targets: Sequence[Target],
        devices: Sequence[Device],
        threads: Sequence[int],
        cfg: BenchConfig,
        store: Store,
        resume: bool = False,
        cooldown: float = 0.0,
        on_event: Callable[[str, Device, Any], None] | None = None,
    ):
        self.targets, self.devices, self.threads = list(targets), list(devices), list(threads)
        self.cfg, self.store, self.resume, self.cooldown = cfg, store, resume, cooldown
        self.on_event = on_event or (lambda *a: None)
        self.stop = threading.Event()
        self.plans = {d.serial: plan(self.targets, d, self.threads, cfg) for d in self.devices}
        done = store.done_keys() if resume else set()
        self.todo = {s: [j for j in p if j.key not in done] for s, p in self.plans.items()}
        self.result = SweepResult(skipped=sum(len(p) - len(self.todo[s]) for s, p in self.plans.items()))
        self._lock = threading.Lock()

    def total_todo(self) -> int:
        return sum(len(v) for v in self.todo.values())

    # -- one device --------------------------------------------------------------------------------
    def _worker(self, dev: Device) -> None:
        jobs = self.todo[dev.serial]
        if not jobs:
            return
        try:
            runner = make_runner(self.cfg)
            dev.ensure_online()
            dev.info.setdefault("runtime", {}).update(self._retry_transient(dev, lambda: runner.prepare(dev))[0])
            incompatible: dict[str, str | None] = {}
            last_sha = None
            for job in jobs:
                if self.stop.is_set():
                    return
                t = job.target
                if last_sha is not None and t.sha256 != last_sha and self.cooldown > 0:
                    self.on_event("cooldown", dev, self.cooldown)
                    if self.stop.wait(self.cooldown):
                        return
                last_sha = t.sha256
                self.on_event("start", dev, job)
                if t.sha256 in incompatible:
                    m = _derived_incompatible(t, dev, job.threads, self.cfg, incompatible[t.sha256])
                else:
                    m = self._run_once_more_if_transient(runner, dev, job)
                    if m.status == "incompatible":
                        incompatible[t.sha256] = m.reason
                self.store.add(m)
                with self._lock:
                    self.result.measured += 1
                self.on_event("done", dev, m)
        except DeviceLost as exc:
            with self._lock:
                self.result.errors[dev.serial] = exc.one_line()
                self.result.lost.append(dev.serial)
            self.on_event("lost", dev, exc)
        except EdgekitError as exc:
            with self._lock:
                self.result.errors[dev.serial] = exc.one_line()
            self.on_event("error", dev, exc)
        except Exception as exc:  # noqa: BLE001 - report, never lose the others' results
            with self._lock:
                self.result.errors[dev.serial] = f"device {dev.serial}: {type(exc).__name__}: {exc}"
            self.on_event("error", dev, exc)

    def _retry_transient(self, dev: Device, fn: Callable[[], Any]) -> tuple[Any, DeviceLost | None]:
        """Run ``fn``; a lost connection on a device that is online again right after (a dropped adb
        stream, a restarted adb server) is retried once; a device that stays gone raises DeviceLost."""
        try:
            return fn(), None
        except DeviceLost as first:
            if self.stop.is_set():
                raise
            time.sleep(1.0)
            dev.ensure_online()          # raises DeviceLost when it is really gone
            self.on_event("retry", dev, first)
            return fn(), first

    def _run_once_more_if_transient(self, runner: Any, dev: Device, job: Job) -> Measurement:
        m, first = self._retry_transient(dev, lambda: runner.run(dev, job.target, job.threads))
        if first is not None:
            m.warnings.append(f"retried once after a transient adb error: {first.detail}")
        return m

    def run(self) -> SweepResult:
        workers = [threading.Thread(target=self._worker, args=(d,), name=f"bench-{d.serial}", daemon=True) for d in self.devices]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            raise
        keys = [j.key for p in self.plans.values() for j in p]
        got = [self.store.get(k) for k in keys]
        self.result.measurements = [m for m in got if m is not None]
        return self.result


def _derived_incompatible(t: Target, dev: Device, threads: int, cfg: BenchConfig, reason: str | None) -> Measurement:
    from edgekit.bench.runner import base_measurement

    m = base_measurement(t, dev, threads, cfg)
    m.status = "incompatible"
    m.reason = reason
    m.warnings.append("not re-run: the same model failed to load on this device with another thread count")
    m.finished = now()
    return m


# ------------------------------------------------------------------------------------------------
# evaluation set


EVAL_CANDIDATES = ("eval.npz", "data/eval.npz", "eval/eval.npz", "eval_set.npz", "data/test.npz")
_X_KEYS = ("x_eval", "x_test", "x")
_Y_KEYS = ("y_eval", "y_test", "y")


def find_eval_data(out_dir: Path, targets: Sequence[Target] = ()) -> Path | str | None:
    """An evaluation set for ``--accuracy device`` when none is given.

    A file/folder in OUT (EVAL_CANDIDATES, or OUT/eval/x.npy + y.npy), else the built-in data set
    when the variants' manifests say they were made from it (``data: fashion-mnist``).
    """
    for rel in EVAL_CANDIDATES:
        p = out_dir / rel
        if p.is_file():
            return p
    d = out_dir / "eval"
    if (d / "x.npy").is_file() and (d / "y.npy").is_file():
        return d
    names = {getattr(t, "data", None) for t in targets}
    if "fashion-mnist" in names:
        return "fashion-mnist"
    return None


def load_eval_set(path: Path, cache_dir: Path, limit: int | None = None):
    """.npz (x_eval/x_test/x + y_eval/y_test/y) or a folder with x.npy + y.npy -> EvalSet.

    The inputs (first ``limit`` examples) are written to ``cache_dir/eval-<sha>.npy`` for pushing.
    A name such as ``fashion-mnist`` or an image folder is loaded with :func:`edgekit.optimize.data.load_data`
    (its ``x_test``/``y_test``, the examples the host evaluation uses).
    """
    import numpy as np

    if isinstance(path, str) and not Path(path).exists():
        from edgekit.optimize.data import load_data  # built-in data set by name (same x_test as host evaluation)

        ds = load_data(path)
        return _eval_from_arrays(ds.x_test, ds.y_test, cache_dir, limit)
    path = Path(path)
    try:
        if path.is_dir() and not (path / "x.npy").is_file():
            from edgekit.optimize.data import load_data  # an image folder, as `edgekit optimize --data` takes it

            ds = load_data(path)
            return _eval_from_arrays(ds.x_test, ds.y_test, cache_dir, limit)
        if path.is_dir():
            x = np.load(path / "x.npy", allow_pickle=False)
            y = np.load(path / "y.npy", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                xk = next((k for k in _X_KEYS if k in z.files), None)
                yk = next((k for k in _Y_KEYS if k in z.files), None)
                if xk is None or yk is None:
                    raise EdgekitError(f"{path} has arrays {z.files}; expected x_test/y_test (or x/y, x_eval/y_eval)")
                x, y = z[xk], z[yk]
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"cannot read the evaluation set {path}: {exc}", "give --eval-data a .npz with x_test/y_test or a folder with x.npy and y.npy")
    if len(x) != len(y):
        raise EdgekitError(f"evaluation set {path}: {len(x)} inputs but {len(y)} labels")
    return _eval_from_arrays(x, y, cache_dir, limit)


def _eval_from_arrays(x, y, cache_dir: Path, limit: int | None):
    import hashlib

    import numpy as np

    from edgekit.atomic import atomic_path
    from edgekit.bench.runner import EvalSet, sha256_file

    if limit is not None:
        x, y = x[:limit], y[:limit]
    x = np.ascontiguousarray(x)
    digest = hashlib.sha256(str((x.dtype.str, x.shape)).encode() + x.tobytes()).hexdigest()
    cache_dir.mkdir(parents=True, exist_ok=True)
    xp = cache_dir / f"eval-{digest[:16]}.npy"
    if not xp.exists():
        with atomic_path(xp) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x, allow_pickle=False)
    return EvalSet(x_path=xp, y=y, sha256=sha256_file(xp), n=int(len(x)))
