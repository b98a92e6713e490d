"""Host evaluation of one .tflite variant: accuracy, per-class accuracy, confusion matrix, fidelity.

The model runs in tflite-runtime in a child process (:mod:`edgekit.tflite.runner`), so a native
crash, a missing op or a timeout becomes this variant's ``status`` instead of ending the run.

Public API::

    evaluate(model_path, dataset, baseline_outputs=None, baseline=None, batch_size=256, timeout=600)
        -> (eval_dict, outputs)
    write_eval(variant_dir, eval_dict) -> Evaluation    # variant_dir/eval.json, atomically
    to_probabilities(outputs) -> (probabilities, "probabilities" | "logits")

``eval_dict`` follows ``edgekit.eval/1`` (see edgekit/variant.py) plus ``schema`` and
``output_kind``; ``outputs`` is the (N, num_classes) float32 probability matrix on
``dataset.x_test`` (None when the model failed) — pass the float32 baseline's as
``baseline_outputs`` when evaluating the other variants.

Probabilities vs logits: outputs count as probabilities when every value lies in [0, 1] (±1e-3)
and the rows sum to 1 (median |sum - 1| ≤ 0.05, which int8 softmax outputs with their 1/256 steps
meet); otherwise they are treated as logits and a softmax is applied per row. Fidelity therefore
always compares probabilities: ``agreement`` = fraction of test examples whose top-1 class equals
the baseline's, ``mean_abs_diff`` = mean over all examples and classes of |p - p_baseline|.
``per_class_accuracy`` is null for a class with no test examples.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import atomic
from edgekit.errors import EdgekitError
from edgekit.variant import EVAL_FILE, EVAL_SCHEMA, Evaluation

STATUSES = ("ok", "failed", "incompatible")


def to_probabilities(outputs: np.ndarray) -> tuple[np.ndarray, str]:
    """(N, K) outputs -> (probabilities float32, "probabilities" | "logits"); see the module docstring."""
    y = np.asarray(outputs, dtype=np.float64)
    if y.ndim != 2:
        raise EdgekitError(f"expected outputs of shape (N, classes), got {y.shape}")
    if y.size == 0:
        return y.astype(np.float32), "probabilities"
    sums = y.sum(axis=1)
    if y.min() >= -1e-3 and y.max() <= 1 + 1e-3 and float(np.median(np.abs(sums - 1.0))) <= 0.05:
        return y.astype(np.float32), "probabilities"
    z = y - y.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32), "logits"


def _sha256(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def _result(status: str, n: int, sha: str | None, baseline: str | None, error: str | None = None) -> dict[str, Any]:
    return {
        "schema": EVAL_SCHEMA,
        "status": status,
        "error": error,
        "n": int(n),
        "accuracy": None,
        "per_class_accuracy": None,
        "confusion_matrix": None,
        "baseline": baseline,
        "agreement": None,
        "mean_abs_diff": None,
        "sha256": sha,
        "output_kind": None,
    }


def evaluate(
    model_path: str | os.PathLike,
    dataset,
    baseline_outputs: np.ndarray | None = None,
    baseline: str | None = None,
    batch_size: int = 256,
    timeout: float = 600,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Evaluate the model on ``dataset.x_test``/``y_test`` (an :class:`edgekit.optimize.data.Dataset`).

    Never raises for a bad model: a corrupt file, a crash, a timeout or wrong output shape gives
    status "failed", a runtime lacking an op/op version "incompatible", each with ``error`` set and
    ``outputs`` None. Raises EdgekitError only when ``baseline_outputs`` does not match the data.
    """
    from edgekit.tflite.runner import InterpreterFailure, predict

    path = Path(model_path)
    x, y = dataset.x_test, np.asarray(dataset.y_test, dtype=np.int64)
    k = int(dataset.num_classes)
    n = len(y)
    sha = _sha256(path)
    base_probs = None
    if baseline_outputs is not None:
        bo = np.asarray(baseline_outputs)
        if bo.ndim != 2 or bo.shape != (n, k):
            raise EdgekitError(f"baseline outputs have shape {bo.shape}, expected ({n}, {k}) for {dataset.name}",
                               "evaluate the baseline on the same data first")
        base_probs, _ = to_probabilities(bo)

    try:
        raw = predict(path, x, batch_size=batch_size, timeout=timeout)
    except InterpreterFailure as exc:
        status = "incompatible" if exc.incompatible else "failed"
        return _result(status, n, sha, baseline, exc.one_line()), None
    except EdgekitError as exc:
        return _result("failed", n, sha, baseline, exc.one_line()), None

    if raw.ndim > 2 and all(d == 1 for d in raw.shape[2:]):
        raw = raw.reshape(len(raw), -1)
    if raw.ndim != 2 or raw.shape[0] != n or raw.shape[1] != k:
        msg = f"model output has shape {tuple(raw.shape)}, expected ({n}, {k}) for {k} classes"
        return _result("failed", n, sha, baseline, msg + " — evaluate a classifier built for this data"), None
    if not np.all(np.isfinite(raw)):
        bad = int((~np.isfinite(raw)).any(axis=1).sum())
        return _result("failed", n, sha, baseline, f"model produced NaN/inf outputs for {bad} of {n} examples"), None

    probs, kind = to_probabilities(raw)
    pred = probs.argmax(axis=1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    support = cm.sum(axis=1)
    per_class = [float(cm[i, i] / support[i]) if support[i] else None for i in range(k)]
    result = _result("ok", n, sha, baseline)
    result.update(
        accuracy=float((pred == y).mean()) if n else 0.0,
        per_class_accuracy=per_class,
        confusion_matrix=cm.tolist(),
        output_kind=kind,
    )
    if base_probs is not None:
        result["agreement"] = float((pred == base_probs.argmax(axis=1)).mean()) if n else None
        result["mean_abs_diff"] = float(np.abs(probs.astype(np.float64) - base_probs).mean()) if n else None
    return result, probs


def write_eval(variant_dir: str | os.PathLike, eval_dict: dict[str, Any]) -> Evaluation:
    """Write ``variant_dir/eval.json`` atomically (temp file + rename); returns the :class:`Evaluation`."""
    status = eval_dict.get("status")
    if status not in STATUSES:
        raise EdgekitError(f"eval status {status!r} is not one of {', '.join(STATUSES)}")
    data = dict(eval_dict)
    data.setdefault("schema", EVAL_SCHEMA)
    evaluation = Evaluation.from_dict(data)
    atomic.write_json(Path(variant_dir) / EVAL_FILE, evaluation.to_dict())
    return evaluation
