"""Run a .tflite model in tflite-runtime — always in a child process.

Why a child: the TFLite interpreter is native code that can crash (SIGSEGV/SIGABRT) on a malformed
model, and tflite_runtime fails with ``ValueError: vector::reserve`` in any process that imported
tensorflow first (STACK.md). The child is ``sys.executable -m edgekit.tflite._child`` (imports numpy
and tflite_runtime only); arrays go through temp ``.npy`` files.

Public API::

    predict(model_path, x, batch_size=256, timeout=600, num_threads=1, xnnpack=False) -> np.ndarray
        float32 outputs of the model's first output tensor, shape (len(x), *output_shape[1:]);
        int8/uint8 outputs are dequantised with the output scale/zero_point, float inputs are
        quantised for int8/uint8 input models with the input scale/zero_point (round, clip).
        Batched through resize_tensor_input; falls back to one example at a time when the graph
        cannot be resized or hard-codes batch 1 (:mod:`edgekit.tflite.batch`, the same code the
        device script runs on the phone).
    check_loadable(model_path, timeout=120, xnnpack=False) -> (ok: bool, reason: str | None)
        load + allocate_tensors + one invoke on zeros; reason is the runtime's message verbatim,
        e.g. "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. ...".

Failures raise :class:`InterpreterFailure` (an EdgekitError) with ``stage`` one of "load",
"allocate", "input", "invoke", "crash", "timeout", "process"; ``incompatible`` is True when the
runtime lacks an op or op version (the model needs a newer runtime, it is not broken).

By default the interpreter runs without default delegates (no XNNPACK): the 32-bit ARM
tflite-runtime wheel has no XNNPACK, so host results then match the device's kernels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.tflite.inspect import read_model_info

TARGET_RUNTIME = "tflite-runtime 2.14.0"
_CHILD_MODULE = "edgekit.tflite._child"
_EXIT_REPORTED = 3
# messages of the runtime meaning "this runtime lacks an op / op version", not a broken model
_INCOMPATIBLE_MARKERS = ("Didn't find op for builtin opcode", "Didn't find custom op", "Encountered unresolved custom op", "Op builtin_code out of range")


class InterpreterFailure(EdgekitError):
    """The TFLite interpreter could not load or run a model (reported by or about the child)."""

    def __init__(self, message: str, stage: str, hint: str | None = None, stderr: str = ""):
        super().__init__(message, hint, exit_code=1)
        self.stage = stage
        self.stderr = stderr

    @property
    def incompatible(self) -> bool:
        return any(marker in self.message for marker in _INCOMPATIBLE_MARKERS)


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the edgekit package
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _stderr_tail(text: str, lines: int = 3) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def _run_child(request: dict, workdir: Path, timeout: float, model: Path) -> dict:
    req_path = workdir / "request.json"
    request = dict(request, model=str(model.resolve()), result=str(workdir / "result.json"))
    req_path.write_text(json.dumps(request))
    cmd = [sys.executable, "-m", _CHILD_MODULE, str(req_path)]
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=_child_env(), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise InterpreterFailure(
            f"interpreter timed out after {timeout:g} s on {model.name}", stage="timeout",
            hint="raise the timeout or check the model", stderr=err,
        ) from None
    result_path = workdir / "result.json"
    if proc.returncode < 0:
        raise InterpreterFailure(
            f"interpreter crashed ({_signal_name(proc.returncode)}) on {model.name}", stage="crash",
            hint="the model is malformed or uses an op the runtime mishandles; re-export it", stderr=proc.stderr,
        )
    if proc.returncode in (0, _EXIT_REPORTED) and result_path.exists():
        result = json.loads(result_path.read_text())
        if result.get("ok"):
            return result
        raise InterpreterFailure(result.get("error") or "unknown interpreter error", stage=result.get("stage", "process"), stderr=proc.stderr)
    tail = _stderr_tail(proc.stderr)
    raise InterpreterFailure(
        f"interpreter process failed (exit code {proc.returncode}) on {model.name}" + (f": {tail}" if tail else ""),
        stage="process", stderr=proc.stderr,
    )


def _model_path(model_path: str | os.PathLike) -> Path:
    path = Path(model_path)
    if not path.is_file():
        raise EdgekitError(f"{path} does not exist" if not path.exists() else f"{path} is not a file", "pass the path of a .tflite file")
    return path


def predict(
    model_path: str | os.PathLike,
    x: np.ndarray,
    batch_size: int = 256,
    timeout: float = 600,
    num_threads: int = 1,
    xnnpack: bool = False,
) -> np.ndarray:
    """Run the model on ``x`` (N, *input_shape[1:]) in a child process; float32 outputs (N, ...).

    Raises EdgekitError for a missing/corrupt file or data that does not fit the input,
    InterpreterFailure when the runtime fails, crashes or times out.
    """
    path = _model_path(model_path)
    info = read_model_info(path)  # corrupt/truncated file -> one-line EdgekitError before any child
    if len(info["inputs"]) != 1:
        raise EdgekitError(f"{path.name} has {len(info['inputs'])} inputs; edgekit runs single-input models")
    x = np.asarray(x)
    want = info["inputs"][0]["shape"][1:]
    if x.ndim != len(want) + 1 or list(x.shape[1:]) != list(want):
        raise EdgekitError(
            f"data of shape {tuple(x.shape[1:])} does not fit the input of {path.name} {tuple(want)}",
            "pass data with the model's input shape",
        )
    if x.dtype.kind not in "fiub":
        raise EdgekitError(f"data has dtype {x.dtype}; expected numbers")
    if x.dtype.kind == "f" and x.dtype != np.float32:
        x = x.astype(np.float32)
    if len(x) == 0:
        out_shape = info["outputs"][0]["shape"][1:] if info["outputs"] else []
        return np.zeros((0, *out_shape), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="edgekit-tflite-") as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", np.ascontiguousarray(x), allow_pickle=False)
        request = {
            "cmd": "predict", "x": str(work / "x.npy"), "out": str(work / "y.npy"),
            "batch_size": int(batch_size), "num_threads": int(num_threads), "xnnpack": bool(xnnpack),
        }
        _run_child(request, work, timeout, path)
        y = np.load(work / "y.npy", allow_pickle=False)
    return y.astype(np.float32, copy=False)


def check_loadable(
    model_path: str | os.PathLike, timeout: float = 120, xnnpack: bool = False
) -> tuple[bool, str | None]:
    """Does the model load, allocate and run one zero input in tflite-runtime (in a child)?

    Returns (True, None) or (False, reason): the runtime's own message for load/allocate/invoke
    errors, "interpreter crashed (SIGSEGV) on model.tflite" for a native crash, a timeout message,
    or the parse error for a file that is not a valid .tflite at all.
    """
    try:
        path = _model_path(model_path)
        read_model_info(path)
        with tempfile.TemporaryDirectory(prefix="edgekit-tflite-") as tmp:
            _run_child({"cmd": "check", "num_threads": 1, "xnnpack": bool(xnnpack)}, Path(tmp), timeout, path)
    except EdgekitError as exc:
        return False, exc.message if isinstance(exc, InterpreterFailure) else exc.one_line()
    return True, None
