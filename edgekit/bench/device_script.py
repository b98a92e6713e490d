"""edgekit's on-device benchmark (the ``python`` runner). Runs ON THE DEVICE in edgekit's device runtime.

Python 3.9+ standard library + numpy + tflite_runtime only (no edgekit package on the device);
pushed to ``/data/local/tmp/edgekit/device_script.py`` with edgekit's batched predict
(``edgekit/tflite/batch.py``, the one the host uses too) beside it as ``edgekit_batch.py``; run as::

    python3 device_script.py --model M.tflite --threads 1 --runs 50 --warmup 5 \
        [--eval-x X.npy --pred-out P.npy] [--check-only]

Order: imports -> load (Interpreter + allocate_tensors; a failure here is reported verbatim with
status ``incompatible``) -> first inference -> warm-up runs -> N timed runs (each timed with
time.perf_counter_ns around ``invoke()`` only, inputs set once beforehand, every run kept) ->
memory -> optional evaluation set (batches of --eval-batch when the graph allows a resized batch,
else one example per invoke; predictions saved as .npy in the output tensor's dtype).
Prints exactly one line on stdout: ``EDGEKIT_RESULT {json}``; everything else goes to stderr.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

MARK = "EDGEKIT_RESULT "
t_script0 = time.perf_counter_ns()


def _ms(ns):
    return ns / 1e6


def _proc_status():
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "VmPeak"):
                    parts = v.split()
                    if parts:
                        out[k] = int(parts[0]) / 1024.0  # kB -> MiB
    except OSError:
        pass
    return out


def _memory():
    st = _proc_status()
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB
    return {"vmhwm_mb": st.get("VmHWM"), "vmrss_mb": st.get("VmRSS"), "ru_maxrss_mb": ru}


def _seen(res, phase):
    """Record the memory after ``phase``, and tell stderr at once: a runner the device's memory cap kills
    leaves no result, and the last of these lines is the peak it was seen at (status ``oom``)."""
    mem = res["memory"][phase] = _memory()
    sys.stderr.write("EDGEKIT_MEMORY %s %.1f\n" % (phase, mem.get("vmhwm_mb") or mem.get("ru_maxrss_mb") or 0.0))
    sys.stderr.flush()


MARK_SYSCALL = 0xEDC0  # edgekit.emulator.counting.MARK_SYSCALL: an unused number the counting plugin watches


def _marker(enabled):
    """``mark(tag, index)`` for counted runs: an unknown syscall whose number the instruction-counting
    qemu plugin records with the running counts (qemu answers ENOSYS). A no-op otherwise."""
    if not enabled:
        return lambda tag, index=0: None
    import ctypes

    fn = ctypes.CDLL(None).syscall
    fn.restype = None  # no result object: nothing allocated between marks
    fn.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_long)

    def mark(tag, index=0):
        fn(MARK_SYSCALL, tag, index)

    return mark


def _counted_invoke(invoke, mark):
    """``invoke`` between marks 3/4 (numbered from 0), after an empty calibration pair 5/6; GC off so
    a collection never lands inside one invoke (edgekit.bench.counted reads the marks)."""
    import gc

    n = [0]

    def counted():
        i = n[0]
        mark(3, i)
        invoke()
        mark(4, i)
        n[0] = i + 1

    gc.collect()
    gc.disable()
    mark(5)
    mark(6)
    return counted


def _count_ops(Interpreter, a, kw, mark, np, rng):
    """Each single-op model: load, random inputs, invoke twice; the second between marks 7/8 (2k+1)."""
    done = []
    for k, path in enumerate(a.op_models.split(",")):
        try:
            op = Interpreter(model_path=path, num_threads=a.threads, **kw)
            op.allocate_tensors()
            for d in op.get_input_details():
                op.set_tensor(d["index"], _make_input(np, d, rng))
            for j in (2 * k, 2 * k + 1):
                mark(7, j)
                op.invoke()
                mark(8, j)
            done.append(None)
        except Exception as exc:
            done.append("%s: %s" % (type(exc).__name__, str(exc).strip()[:200]))
        op = None
    return done


def _emit(result):
    result["script_ms"] = _ms(time.perf_counter_ns() - t_script0)
    sys.stdout.write(MARK + json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _detail(d):
    q = d.get("quantization") or (0.0, 0)
    return {
        "name": d.get("name"),
        "shape": [int(x) for x in d["shape"]],
        "dtype": d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"]),
        "scale": float(q[0]),
        "zero_point": int(q[1]),
    }


def _make_input(np, d, rng):
    shape = [int(x) if int(x) > 0 else 1 for x in d["shape"]]
    dt = np.dtype(d["dtype"])
    if dt.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dt)
    return np.zeros(shape, dtype=dt)


def _batch_module():
    """edgekit's batched predict (edgekit/tflite/batch.py): pushed beside this script as
    edgekit_batch.py; in a source tree or an installed edgekit, the file itself."""
    try:
        import edgekit_batch

        return edgekit_batch
    except ImportError:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tflite", "batch.py")
        spec = importlib.util.spec_from_file_location("edgekit_batch", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def _evaluate(interp, a, x):
    """Predictions for every example of ``x`` (the output tensor's dtype) and the mode: batches of
    ``--eval-batch`` when the graph accepts a resized batch, else one example per invoke."""
    batch = _batch_module()
    try:
        return batch.predict(interp, x, a.eval_batch)
    except batch.BatchError as exc:
        raise RuntimeError("%s: %s" % (exc.stage, exc.message)) from None


def _resolver_kw(a):
    if not a.no_xnnpack:
        return {}
    import importlib

    return {"experimental_op_resolver_type": importlib.import_module(a.runtime + ".interpreter").OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}


def main(argv=None):
    p = argparse.ArgumentParser(description="edgekit on-device benchmark")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-x", default=None)
    p.add_argument("--pred-out", default=None)
    p.add_argument("--eval-batch", type=int, default=64)
    p.add_argument("--deadline", type=float, default=0.0, help="seconds; stop and report 'failed' past it (0: none)")
    p.add_argument("--check-only", action="store_true")
    p.add_argument("--count-marks", action="store_true",
                   help="counted run (edgekit bench --metric instructions): mark phases for the counting qemu plugin")
    p.add_argument("--op-models", default=None,
                   help="counted runs: comma-separated single-op models (edgekit.bench.ops), each invoked twice between marks 7/8")
    p.add_argument("--no-xnnpack", action="store_true", help="builtin kernels only (no default delegates)")
    p.add_argument("--runtime", default="tflite_runtime", choices=("tflite_runtime", "ai_edge_litert"),
                   help="Python package providing the Interpreter (host comparisons only; devices have tflite_runtime)")
    a = p.parse_args(argv)

    res = {"status": "ok", "reason": None, "runtime": {"python": platform.python_version(), "machine": platform.machine()}}
    t0 = time.perf_counter_ns()
    try:
        import importlib

        import numpy as np

        rt = importlib.import_module(a.runtime)
        rt_interp = importlib.import_module(a.runtime + ".interpreter")
        Interpreter = rt_interp.Interpreter
    except Exception as exc:  # no runtime on this device
        res.update(status="failed", reason="cannot import numpy/%s: %s: %s" % (a.runtime, type(exc).__name__, exc))
        _emit(res)
        return 3
    res["imports_ms"] = _ms(time.perf_counter_ns() - t0)
    res["runtime"].update({a.runtime: getattr(rt, "__version__", "?"), "numpy": np.__version__})
    # counted runs read no /proc numbers before the timed invokes: their text (qemu's RSS) varies from
    # run to run and would move Python's allocator state, i.e. the instruction counts
    res["memory"] = {}
    if not a.count_marks:
        _seen(res, "baseline")

    mark = _marker(a.count_marks)
    kw = _resolver_kw(a)

    # -- load check (compatibility first) ----------------------------------------------------------
    t0 = time.perf_counter_ns()
    mark(1)  # marks inside the clock reads: the time arithmetic (its digits vary) stays outside
    try:
        interp = Interpreter(model_path=a.model, num_threads=a.threads, **kw)
        interp.allocate_tensors()
        mark(2)
    except Exception as exc:
        res.update(status="incompatible", reason=str(exc).strip() or type(exc).__name__)
        _emit(res)
        return 0
    res["init_ms"] = _ms(time.perf_counter_ns() - t0)
    ins, outs = interp.get_input_details(), interp.get_output_details()
    res["io"] = {"inputs": [_detail(d) for d in ins], "outputs": [_detail(d) for d in outs]}
    if not a.count_marks:
        _seen(res, "after_init")
    if a.check_only:
        _emit(res)
        return 0

    # -- timing ------------------------------------------------------------------------------------
    rng = np.random.default_rng(a.seed)
    for d in ins:
        interp.set_tensor(d["index"], _make_input(np, d, rng))
    invoke = interp.invoke
    if a.count_marks:
        invoke = _counted_invoke(invoke, mark)
    clock = time.perf_counter_ns
    try:
        t0 = clock()
        invoke()
        res["first_inference_ms"] = _ms(clock() - t0)
        warm = []
        for _ in range(a.warmup):
            t0 = clock()
            invoke()
            warm.append(clock() - t0)
        lat = []
        limit = t_script0 + int(a.deadline * 1e9) if a.deadline > 0 else None
        for _ in range(a.runs):
            t0 = clock()
            invoke()
            lat.append(clock() - t0)
            if limit is not None and t0 > limit:
                res["latencies_ms"] = [_ms(x) for x in lat]
                res.update(status="failed", reason="deadline of %g s exceeded after %d of %d timed runs (raise --timeout)" % (a.deadline, len(lat), a.runs))
                _emit(res)
                return 0
    except Exception as exc:
        res.update(status="failed", reason="invoke failed: %s" % (str(exc).strip() or type(exc).__name__))
        _emit(res)
        return 0
    res["warmup_ms"] = [_ms(x) for x in warm]
    res["latencies_ms"] = [_ms(x) for x in lat]
    if a.op_models and a.count_marks:
        res["ops"] = _count_ops(Interpreter, a, kw, mark, np, rng)
    mark(9)
    _seen(res, "after_runs")

    # -- evaluation set ----------------------------------------------------------------------------
    if a.eval_x:
        t0 = time.perf_counter_ns()
        try:
            x = np.load(a.eval_x, mmap_mode="r")
            preds, mode = _evaluate(interp, a, x)
            tmp = a.pred_out + ".tmp.npy"
            np.save(tmp, preds)
            os.replace(tmp, a.pred_out)
            res["eval"] = {"n": int(x.shape[0]), "seconds": (time.perf_counter_ns() - t0) / 1e9, "pred": a.pred_out, "mode": mode}
        except Exception as exc:
            res.update(status="failed", reason="evaluation failed: %s: %s" % (type(exc).__name__, exc))
            _emit(res)
            return 0
        _seen(res, "after_eval")
    res["memory"]["peak"] = _memory()
    _emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
