"""edgekit's on-device benchmark (the ``python`` runner). Runs ON THE DEVICE with its python3.

Self-contained: Python 3.9+ standard library + numpy + tflite_runtime only (no edgekit imports);
pushed to ``/data/local/tmp/edgekit/device_script.py`` and run as::

    python3 device_script.py --model M.tflite --threads 1 --runs 50 --warmup 5 \
        [--eval-x X.npy --pred-out P.npy] [--check-only]

Order: imports -> load (Interpreter + allocate_tensors; a failure here is reported verbatim with
status ``incompatible``) -> first inference -> warm-up runs -> N timed runs (each timed with
time.perf_counter_ns around ``invoke()`` only, inputs set once beforehand, every run kept) ->
memory -> optional evaluation set (one example per invoke, predictions saved as .npy).
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


def _to_input(np, x, d):
    """One example (no batch axis) -> the input tensor, quantising float data for int models."""
    dt = np.dtype(d["dtype"])
    x = np.asarray(x)
    shape = [int(s) for s in d["shape"]]
    if dt.kind in "iu" and x.dtype.kind == "f":
        scale, zp = d.get("quantization") or (0.0, 0)
        if scale:
            info = np.iinfo(dt)
            x = np.clip(np.round(x.astype(np.float64) / scale + zp), info.min, info.max)
    return x.astype(dt).reshape(shape)


def main(argv=None):
    p = argparse.ArgumentParser(description="edgekit on-device benchmark")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-x", default=None)
    p.add_argument("--pred-out", default=None)
    p.add_argument("--check-only", action="store_true")
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
    res["memory"] = {"baseline": _memory()}

    # -- load check (compatibility first) ----------------------------------------------------------
    t0 = time.perf_counter_ns()
    try:
        kw = {}
        if a.no_xnnpack:
            kw["experimental_op_resolver_type"] = rt_interp.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interp = Interpreter(model_path=a.model, num_threads=a.threads, **kw)
        interp.allocate_tensors()
    except Exception as exc:
        res.update(status="incompatible", reason=str(exc).strip() or type(exc).__name__)
        _emit(res)
        return 0
    res["init_ms"] = _ms(time.perf_counter_ns() - t0)
    ins, outs = interp.get_input_details(), interp.get_output_details()
    res["io"] = {"inputs": [_detail(d) for d in ins], "outputs": [_detail(d) for d in outs]}
    res["memory"]["after_init"] = _memory()
    if a.check_only:
        _emit(res)
        return 0

    # -- timing ------------------------------------------------------------------------------------
    rng = np.random.default_rng(a.seed)
    for d in ins:
        interp.set_tensor(d["index"], _make_input(np, d, rng))
    invoke = interp.invoke
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
        for _ in range(a.runs):
            t0 = clock()
            invoke()
            lat.append(clock() - t0)
    except Exception as exc:
        res.update(status="failed", reason="invoke failed: %s" % (str(exc).strip() or type(exc).__name__))
        _emit(res)
        return 0
    res["warmup_ms"] = [_ms(x) for x in warm]
    res["latencies_ms"] = [_ms(x) for x in lat]
    res["memory"]["after_runs"] = _memory()

    # -- evaluation set ----------------------------------------------------------------------------
    if a.eval_x:
        t0 = time.perf_counter_ns()
        try:
            x = np.load(a.eval_x, mmap_mode="r")
            d_in, d_out = ins[0], outs[0]
            preds = None
            for i in range(x.shape[0]):
                interp.set_tensor(d_in["index"], _to_input(np, x[i], d_in))
                invoke()
                y = interp.get_tensor(d_out["index"])
                if preds is None:
                    preds = np.empty((x.shape[0],) + tuple(y.shape[1:]), dtype=y.dtype)
                preds[i] = y[0]
            if preds is None:
                preds = np.empty((0,), dtype=np.float32)
            tmp = a.pred_out + ".tmp.npy"
            np.save(tmp, preds)
            os.replace(tmp, a.pred_out)
            res["eval"] = {"n": int(x.shape[0]), "seconds": (time.perf_counter_ns() - t0) / 1e9, "pred": a.pred_out}
        except Exception as exc:
            res.update(status="failed", reason="evaluation failed: %s: %s" % (type(exc).__name__, exc))
            _emit(res)
            return 0
        res["memory"]["after_eval"] = _memory()
    res["memory"]["peak"] = _memory()
    _emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
