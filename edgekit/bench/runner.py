"""The two on-device runners. Both turn (target, device, threads, config) into one Measurement.

- ``python``: :mod:`edgekit.bench.device_script` pushed to the device and run by edgekit's device
  runtime (Python 3.11 + numpy + ``tflite_runtime``, pushed once per device: :mod:`edgekit.bench.runtime`;
  every timed run kept, peak RSS, optional on-device evaluation).
- ``benchmark_model``: TFLite's native binary (user-supplied), output parsed by
  :mod:`edgekit.bench.benchmark_model` (summary statistics only).

Remote layout (all under ``/data/local/tmp/edgekit``)::

    device_script.py, edgekit_batch.py               the python runner (batched predict beside it)
    <bundle sha256[:16]>/                         the device runtime (bin/python3.11, lib/...)
    models/<sha256[:16]>/<target name>.tflite    content-addressed, pushed once per device
    eval/<sha256[:16]>.npy                        evaluation inputs (--accuracy device)
    out/<token>.npy                               predictions, pulled back and removed
    bin/<sha256[:12]>/benchmark_model
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.bench import benchmark_model as bm
from edgekit.bench import counted
from edgekit.bench.device import ARM32_ABIS, CommandTimeout, Device, identity, remote, shell_join
from edgekit.bench.evalset import EvalSet
from edgekit.bench.params import RUNNERS, BenchParams
from edgekit.bench.stats import analyse
from edgekit.bench.targets import Target
from edgekit.clock import utc_now as now
from edgekit.digest import sha256_file
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement

SCRIPT = Path(__file__).with_name("device_script.py")
BATCH = Path(__file__).resolve().parents[1] / "tflite" / "batch.py"   # pushed as edgekit_batch.py
BATCH_REMOTE = "edgekit_batch.py"
MARK = "EDGEKIT_RESULT "
# The device runtime with no model: prints the versions, then the process's peak RSS
# (VmHWM, kB). On the emulated device that "empty run" is qemu's own footprint plus the interpreter
# and the imports: subtracted from a measurement's peak it leaves the model's share.
PROBE = ("import sys, numpy, tflite_runtime, tflite_runtime.interpreter; print(sys.version.split()[0], numpy.__version__, "
         "tflite_runtime.__version__, ([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')] + ['-'])[0])")
# The counted run beside the timed runs (emulated device, --metric latency): a first invoke, one
# warm-up, two counted invokes (deterministic: their counts agree), then every op on its own.
BESIDE_WARMUP, BESIDE_RUNS = 1, 2


def base_measurement(t: Target, dev: Any, threads: int, params: BenchParams, ev: EvalSet | None = None) -> Measurement:
    warnings = [] if dev.info.get("abi") in ARM32_ABIS or not dev.info else [
        f"abi: device ABI {dev.info.get('abi')} is not armeabi-v7a (measured with --allow-abi)"]
    return Measurement(
        warnings=warnings,
        variant=t.name,
        sha256=t.sha256,
        device_serial=dev.serial,
        device_id=identity(dev),
        device=dict(dev.info),
        runner=params.runner,
        threads=int(threads),
        config=params.measurement_config(ev.sha256 if ev else None, ev.n if ev else None),
        size_bytes=t.size_bytes,
        started=now(),
        edgekit_version=__version__,
    )


def remote_model_name(t: Target) -> str:
    """``<target name>.tflite`` (a variant folder name or a file stem: never contains '/')."""
    name = t.name.replace("/", "_")
    if name in ("", ".", "..") or len(name.encode()) > 200:
        name = "model"
    return name if name.endswith(".tflite") else name + ".tflite"


def push_model(dev: Device, t: Target) -> str:
    d = remote("models", t.sha256[:16])
    dst = f"{d}/{remote_model_name(t)}"
    dev.mkdir(d)
    dev.push_if_changed(t.path, dst)
    return dst


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def score(preds: Any, y: Any) -> float:
    import numpy as np

    p = np.asarray(preds)
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1)
    pred = p.reshape(len(p), -1).argmax(axis=-1) if p.ndim > 1 else p
    if len(pred) != len(labels):
        raise EdgekitError(f"device returned {len(pred)} predictions for {len(labels)} labels")
    return float((pred == labels).mean()) if len(labels) else 0.0


class PythonRunner:
    name = "python"

    def __init__(self, params: BenchParams, ev: EvalSet | None = None):
        self.params = params
        self.eval = ev if params.accuracy == "device" else None
        self.counted: dict[str, dict[str, str]] = {}   # serial -> counted-route banner (--metric instructions)
        self.beside: dict[str, dict[str, str]] = {}    # serial -> banner: counted run beside the timed runs
        self.empty_mb: dict[str, float] = {}           # serial -> peak RSS of the empty run (MiB)
        self.python: dict[str, list[str]] = {}         # serial -> the command starting the runtime's Python
        self._ops: dict[str, list[dict[str, Any]] | str] = {}   # sha256 -> single-op models (or why none)
        self._ops_dir = tempfile.TemporaryDirectory(prefix="edgekit-ops-")
        self._ops_lock = threading.Lock()

    def prepare(self, dev: Device) -> dict[str, Any]:
        """Push the runtime when missing, the script, its batched-predict module (and eval inputs); check
        the runtime; measure the empty run; on the emulated device find the counted route (beside the timed runs)."""
        from edgekit.bench import runtime

        rt = runtime.ensure(dev)   # (one round trip when it is there: a restarted emulated device starts empty)
        py = self.python[dev.serial] = rt.python_argv()
        if self.params.metric == "instructions":
            self.counted[dev.serial] = counted.require(dev)   # a real phone: "unavailable", before anything else
        elif self.params.count:
            info = counted.probe_info(dev)          # None on a real phone: measured latency is the headline there
            if info is not None:
                self.beside[dev.serial] = info
        dev.mkdir(remote("models"), remote("eval"), remote("out"))
        dev.push(SCRIPT, remote("device_script.py"))
        dev.push(BATCH, remote(BATCH_REMOTE))
        r = dev.shell([*py, "-c", PROBE], timeout=300)
        if r.returncode != 0:
            raise runtime.does_not_start(dev, r.returncode, r.output)
        parts = r.stdout.split()
        info = {**rt.info(), "python": parts[0] if parts else None, "numpy": parts[1] if len(parts) > 1 else None,
                "tflite_runtime": parts[2] if len(parts) > 2 else None}
        if len(parts) > 3 and parts[3].isdigit():
            self.empty_mb[dev.serial] = int(parts[3]) / 1024.0
            info["empty_run_mb"] = self.empty_mb[dev.serial]
        if self.eval is not None:
            dev.push_if_changed(self.eval.x_path, self._eval_remote())
        return info

    def _eval_remote(self) -> str:
        assert self.eval is not None
        return remote("eval", f"{self.eval.sha256[:16]}.npy")

    def run(self, dev: Device, t: Target, threads: int) -> Measurement:
        p, ev = self.params, self.eval
        m = base_measurement(t, dev, threads, p, ev)
        model = push_model(dev, t)
        args = [*self.python[dev.serial], remote("device_script.py"), "--model", model, "--threads", str(threads),
                "--runs", str(p.runs), "--warmup", str(p.warmup), "--seed", str(p.seed)]
        pred_remote = None
        if ev is not None:
            pred_remote = remote("out", f"{secrets.token_hex(8)}.npy")
            args += ["--eval-x", self._eval_remote(), "--pred-out", pred_remote]
        args += ["--deadline", f"{p.timeout:g}"]
        counts_remote = None
        if p.metric == "instructions":   # counted route: qemu-arm + counting plugin, marks around each invoke
            counts_remote = remote("out", f"{secrets.token_hex(8)}.counts")
            cmd = counted.command(args + ["--count-marks"], counts_remote, remote())
        else:
            cmd = "cd " + shell_join([remote()]) + " && " + shell_join(args)
        t0 = time.perf_counter()
        try:
            r = dev.shell(cmd, timeout=p.timeout + 120)
        except CommandTimeout as exc:
            m.status, m.reason, m.finished = "failed", exc.message + " (the device script did not finish)", now()
            if counts_remote:
                counted.collect(dev, m, counts_remote, p.warmup, p.runs, self.counted.get(dev.serial))
            return m
        m.wall_ms = (time.perf_counter() - t0) * 1000.0
        if counts_remote:
            counted.collect(dev, m, counts_remote, p.warmup, p.runs, self.counted.get(dev.serial))
        res = parse_script_output(r.stdout)
        if res is None:
            oom = out_of_memory(r.output)
            m.status = "oom" if oom else "failed"
            m.reason = oom or f"device script exited with code {r.returncode} and no result: {_tail(r.output)}"
            m.finished = now()
            return m
        fill_from_script(m, res, p.noisy_cv)
        timed = (m.first_inference_ms or 0.0) + sum(m.detail.get("warmup_ms") or []) + sum(m.latencies_ms)
        m.detail["overhead_ms"] = m.wall_ms - timed   # adb, python start, imports, load, eval: beyond the timed runs
        if m.status == "ok" and pred_remote and ev is not None:
            with tempfile.TemporaryDirectory(prefix="edgekit-pred-") as td:
                local = Path(td) / "pred.npy"
                dev.pull(pred_remote, local)
                import numpy as np

                preds = np.load(local, allow_pickle=False)
                m.accuracy = score(preds, ev.y)
                m.accuracy_n = ev.n
            dev.shell(["rm", "-f", pred_remote])
            m.detail["accuracy"] = host_check(t, ev, preds)
            m.warnings += [f"suspect: {why}" for why in m.detail["accuracy"].get("suspect", [])]
        self._memory_share(dev, m)
        if m.status == "ok" and dev.serial in self.beside and threads == 1:   # counts (and estimates) are 1-thread
            self._count_beside(dev, t, threads, m, model)
        m.finished = now()
        return m

    def _memory_share(self, dev: Device, m: Measurement) -> None:
        """``detail.memory.empty_run_mb`` and ``model_share_mb`` = peak - empty run (the model's share)."""
        empty = self.empty_mb.get(dev.serial)
        mem = m.detail.setdefault("memory", {})
        if empty is not None:
            mem["empty_run_mb"] = empty
            if m.peak_memory_mb is not None:
                mem["model_share_mb"] = max(0.0, m.peak_memory_mb - empty)

    def _op_models(self, t: Target) -> list[dict[str, Any]] | str:
        from edgekit.bench import ops

        with self._ops_lock:
            if t.sha256 not in self._ops:
                try:
                    self._ops[t.sha256] = ops.split(t.path, Path(self._ops_dir.name) / t.sha256[:16])
                except EdgekitError as exc:
                    self._ops[t.sha256] = exc.one_line()
                except Exception as exc:  # noqa: BLE001 - a model the splitter cannot cut: whole-model counts only
                    self._ops[t.sha256] = f"cannot cut into single-op models: {type(exc).__name__}: {exc}"
            return self._ops[t.sha256]

    def _count_beside(self, dev: Device, t: Target, threads: int, m: Measurement, model: str) -> None:
        """The counted route beside the timed runs: ``m.instructions`` (with the estimate and, per op,
        the counts of every op on its own). A failure here is a warning: the timed result stands."""
        p = self.params
        args = [*self.python[dev.serial], remote("device_script.py"), "--model", model, "--threads", str(threads),
                "--runs", str(BESIDE_RUNS), "--warmup", str(BESIDE_WARMUP), "--seed", str(p.seed),
                "--deadline", f"{p.timeout:g}", "--count-marks"]
        split = self._op_models(t)
        names: list[str] = []
        if isinstance(split, str):
            m.warnings.append(f"no per-op counts: {split}")
        elif split:
            d = remote("models", t.sha256[:16], "ops")
            dev.mkdir(d)
            paths = []
            for o in split:
                dst = f"{d}/{o['path'].name}"
                dev.push_if_changed(o["path"], dst)
                paths.append(dst)
                names.append(o["op"])
            args += ["--op-models", ",".join(paths)]
        counts_remote = remote("out", f"{secrets.token_hex(8)}.counts")
        t0 = time.perf_counter()
        try:
            dev.shell(counted.command(args, counts_remote, remote()), timeout=p.timeout + 120)
        except CommandTimeout as exc:
            m.warnings.append(f"counted run beside the timed runs: {exc.message}")
        counted.collect(dev, m, counts_remote, BESIDE_WARMUP, BESIDE_RUNS, self.beside.get(dev.serial), op_names=names)
        if m.instructions is not None:
            m.instructions["beside"] = True
            m.instructions["counted_wall_s"] = time.perf_counter() - t0


_HOST_PRED: dict[tuple[str, str], Any] = {}
_HOST_LOCK = threading.Lock()


def host_check(t: Target, ev: EvalSet, device_preds: Any) -> dict[str, Any]:
    """Same examples through the host's tflite-runtime (child process, builtin kernels, no XNNPACK):
    host accuracy on exactly these examples and top-1 agreement with the device; ``suspect`` holds one
    line when that agreement is below the checks' ``min_agreement`` (:mod:`edgekit.checks`)."""
    import numpy as np

    key = (t.sha256, ev.sha256)
    try:
        with _HOST_LOCK:
            if key not in _HOST_PRED:
                from edgekit.tflite.runner import predict

                _HOST_PRED[key] = predict(t.path, np.load(ev.x_path, allow_pickle=False), xnnpack=False)
            host = _HOST_PRED[key]
    except Exception as exc:  # noqa: BLE001 - a host problem must not lose the device result
        return {"n": ev.n, "host_error": " ".join(str(exc).split())[:300]}
    dp = np.asarray(device_preds).reshape(len(device_preds), -1).argmax(axis=-1)
    hp = np.asarray(host).reshape(len(host), -1).argmax(axis=-1)
    from edgekit.checks import agreement_reason

    agreement = float((dp == hp).mean()) if len(hp) else None
    out = {"n": ev.n, "host_accuracy_same_examples": score(host, ev.y), "agreement_with_host": agreement}
    why = agreement_reason(agreement, what="the host")
    return {**out, "suspect": [why]} if why else out


_OOM = re.compile(r"out of memory: killed by the (\d+) MB memory cap of device profile (\S+)")
_SEEN = re.compile(r"^EDGEKIT_MEMORY (\w+) ([\d.]+)$", re.M)


def out_of_memory(output: str) -> str | None:
    """The ``oom`` reason when the device's memory cap killed the runner: the cap and the last peak the
    script reported (its ``EDGEKIT_MEMORY`` lines), else None."""
    found = _OOM.search(output or "")
    if not found:
        return None
    seen = _SEEN.findall(output)
    last = f"; last peak seen {float(seen[-1][1]):.0f} MiB ({seen[-1][0].replace('_', ' ')})" if seen else ""
    return f"out of memory: killed by the {found.group(1)} MB memory cap of {found.group(2)}{last}"


def parse_script_output(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            try:
                return json.loads(line[len(MARK):])
            except json.JSONDecodeError:
                return None
    return None


def fill_from_script(m: Measurement, res: dict[str, Any], noisy_cv: float) -> None:
    """Copy the device script's JSON result into the Measurement (stats computed here)."""
    m.status = res.get("status", "failed")
    m.reason = res.get("reason")
    m.init_ms = res.get("init_ms")
    m.first_inference_ms = res.get("first_inference_ms")
    m.latencies_ms = [float(x) for x in res.get("latencies_ms") or []]
    mem = dict(res.get("memory") or {})
    m.detail = {"memory": mem, "warmup_ms": res.get("warmup_ms") or [], "script_ms": res.get("script_ms"),
                "imports_ms": res.get("imports_ms"), "runtime": res.get("runtime"), "io": res.get("io")}
    if res.get("eval"):
        m.detail["eval"] = res["eval"]
    peak = (mem.get("peak") or mem.get("after_runs") or mem.get("after_init") or {})
    m.peak_memory_mb = peak.get("vmhwm_mb") or peak.get("ru_maxrss_mb")
    base = (mem.get("baseline") or {}).get("vmhwm_mb")
    if m.peak_memory_mb is not None and base is not None:
        # peak_memory_mb is the whole process (python + numpy + runtime; under qemu-user also qemu's
        # own memory); this is what loading and running the model added on top of the imports
        mem["model_delta_mb"] = m.peak_memory_mb - base
    if m.latencies_ms:
        m.stats, found = analyse(m.latencies_ms, noisy_cv=noisy_cv)
        m.warnings.extend(found)


class BenchmarkModelRunner:
    name = "benchmark_model"

    def __init__(self, params: BenchParams, ev: EvalSet | None = None):
        self.params = params
        self.binary = bm.find_binary(params.benchmark_binary)
        self.sha = sha256_file(self.binary)
        self.remote_bin = remote("bin", self.sha[:12], "benchmark_model")

    def prepare(self, dev: Device) -> dict[str, Any]:
        dev.mkdir(remote("models"), remote("bin", self.sha[:12]))
        dev.push_if_changed(self.binary, self.remote_bin, mode=0o755)
        r = dev.shell(shell_join([self.remote_bin, "--help"]) + " 2>&1", timeout=120)
        if r.returncode in (126, 127) or any(k in r.output for k in ("Exec format error", "cannot execute", "not found")):
            raise EdgekitError(
                f"{self.binary.name} does not run on {dev.serial} ({dev.info.get('abi')}): {_tail(r.output, 2)}",
                "use TFLite's android_arm build of benchmark_model for armeabi-v7a phones",
            )
        return {"benchmark_model_sha256": self.sha}

    def run(self, dev: Device, t: Target, threads: int) -> Measurement:
        p = self.params
        m = base_measurement(t, dev, threads, p)
        model = push_model(dev, t)
        argv = bm.command_args(self.remote_bin, model, threads, p.runs, p.warmup, p.use_xnnpack)
        t0 = time.perf_counter()
        try:
            r = dev.shell(shell_join(argv) + " 2>&1", timeout=p.timeout)
        except CommandTimeout as exc:
            m.status, m.reason, m.finished = "failed", exc.message, now()
            return m
        m.wall_ms = (time.perf_counter() - t0) * 1000.0
        bm.fill_measurement(m, r.output, r.returncode, p.noisy_cv)
        m.finished = now()
        return m


def make_runner(params: BenchParams, ev: EvalSet | None = None):
    if params.runner == "python":
        return PythonRunner(params, ev)
    if params.runner == "benchmark_model":
        return BenchmarkModelRunner(params, ev)
    raise EdgekitError(f"unknown runner {params.runner!r}", f"choose one of {', '.join(RUNNERS)}")
