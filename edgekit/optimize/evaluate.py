"""Host evaluation of one .tflite variant: accuracy, per-class accuracy, confusion matrix, fidelity.

The model runs in tflite-runtime in a child process (:mod:`edgekit.tflite.runner`), so a native
crash, a missing op or a timeout becomes this variant's ``status`` instead of ending the run.

Public API::

    evaluate(model_path, dataset, baseline_outputs=None, baseline=None, batch_size=256, timeout=600,
             checks=None) -> (Evaluation, outputs)
    write_eval(variant_dir, evaluation) -> Evaluation    # variant_dir/eval.json, atomically
    to_probabilities(outputs) -> (probabilities, "probabilities" | "logits")

The result is an :class:`edgekit.variant.Evaluation` (``edgekit.eval/1``, with the ``seconds`` the
evaluation took); ``outputs`` is the (N, num_classes) float32 probability
matrix on ``dataset.x_test`` (None when the model failed) — pass the float32 baseline's as
``baseline_outputs`` when evaluating the other variants.

Probabilities vs logits: outputs count as probabilities when every value lies in [0, 1] (±1e-3)
and the rows sum to 1 (median |sum - 1| ≤ 0.05, which int8 softmax outputs with their 1/256 steps
meet); otherwise they are treated as logits and a softmax is applied per row. Fidelity therefore
always compares probabilities: ``agreement`` = fraction of test examples whose top-1 class equals
the baseline's, ``mean_abs_diff`` = mean over all examples and classes of |p - p_baseline|.
``per_class_accuracy`` is null for a class with no test examples.

Numerical-fault checks (:mod:`edgekit.checks`) run on the RAW outputs of every evaluated variant;
``checks`` (a :class:`edgekit.checks.Thresholds` or a mapping, None = the defaults) sets the
thresholds. Their scores go to the Evaluation's ``checks``, one line per tripped check to ``suspect``
(the variant is then ``suspect``, :attr:`edgekit.variant.Variant.status`). A row with NaN/Inf output
is such a fault, not a failed evaluation: it never counts as correct (no confusion-matrix cell,
still in its class's support), disagrees with the baseline, and is left out of ``mean_abs_diff``;
its probabilities in ``outputs`` are NaN.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit import atomic
from edgekit.checks import Thresholds, check_outputs, thresholds
from edgekit.digest import sha256_file
from edgekit.errors import EdgekitError
from edgekit.variant import EVAL_FILE, Evaluation

STATUSES = ("ok", "failed", "incompatible")


def to_probabilities(outputs: np.ndarray) -> tuple[np.ndarray, str]:
    """(N, K) outputs -> (probabilities float32, "probabilities" | "logits"); see the module docstring.

    The kind is decided on the rows without NaN/Inf; those rows come back as NaN."""
    y = np.asarray(outputs, dtype=np.float64)
    if y.ndim != 2:
        raise EdgekitError(f"expected outputs of shape (N, classes), got {y.shape}")
    finite = np.isfinite(y).all(axis=1)
    g = y[finite]
    if g.size == 0:
        return np.full(y.shape, np.nan, dtype=np.float32) if y.size else y.astype(np.float32), "probabilities"
    sums = g.sum(axis=1)
    if g.min() >= -1e-3 and g.max() <= 1 + 1e-3 and float(np.median(np.abs(sums - 1.0))) <= 0.05:
        kind, p = "probabilities", g
    else:
        e = np.exp(g - g.max(axis=1, keepdims=True))
        kind, p = "logits", e / e.sum(axis=1, keepdims=True)
    out = np.full(y.shape, np.nan, dtype=np.float32)
    out[finite] = p
    return out, kind


def _sha256(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def evaluate(
    model_path: str | os.PathLike,
    dataset,
    baseline_outputs: np.ndarray | None = None,
    baseline: str | None = None,
    batch_size: int = 256,
    timeout: float = 600,
    checks: Thresholds | Mapping[str, Any] | None = None,
) -> tuple[Evaluation, np.ndarray | None]:
    """Evaluate the model on ``dataset.x_test``/``y_test`` (an :class:`edgekit.optimize.data.Dataset`).

    Never raises for a bad model: a corrupt file, a crash, a timeout or wrong output shape gives
    status "failed", a runtime lacking an op/op version "incompatible", each with ``error`` set and
    ``outputs`` None. NaN/Inf outputs, constant outputs and the like are status "ok" with ``suspect``
    reasons (the module docstring). Raises EdgekitError only when ``baseline_outputs`` does not match
    the data or ``checks`` holds a bad threshold.
    """
    from edgekit.tflite.runner import InterpreterFailure, predict

    t0 = time.monotonic()
    path = Path(model_path)
    x, y = dataset.x_test, np.asarray(dataset.y_test, dtype=np.int64)
    k = int(dataset.num_classes)
    limits = thresholds(checks)
    n = len(y)
    sha = _sha256(path)
    base_probs = None
    if baseline_outputs is not None:
        bo = np.asarray(baseline_outputs)
        if bo.ndim != 2 or bo.shape != (n, k):
            raise EdgekitError(f"baseline outputs have shape {bo.shape}, expected ({n}, {k}) for {dataset.name}",
                               "evaluate the baseline on the same data first")
        base_probs, _ = to_probabilities(bo)

    def result(status: str, error: str | None = None, **found) -> Evaluation:
        return Evaluation(status=status, error=error, n=int(n), baseline=baseline, sha256=sha,
                          seconds=round(time.monotonic() - t0, 3), **found)

    try:
        raw = predict(path, x, batch_size=batch_size, timeout=timeout)
    except InterpreterFailure as exc:
        return result("incompatible" if exc.incompatible else "failed", exc.one_line()), None
    except EdgekitError as exc:
        return result("failed", exc.one_line()), None

    if raw.ndim > 2 and all(d == 1 for d in raw.shape[2:]):
        raw = raw.reshape(len(raw), -1)
    if raw.ndim != 2 or raw.shape[0] != n or raw.shape[1] != k:
        msg = f"model output has shape {tuple(raw.shape)}, expected ({n}, {k}) for {k} classes"
        return result("failed", msg + " — evaluate a classifier built for this data"), None
    probs, kind = to_probabilities(raw)
    found = check_outputs(raw, probs, base_probs, limits)   # on the raw outputs: NaN/Inf still there
    finite = np.isfinite(raw).all(axis=1)
    pred = np.where(finite, np.nan_to_num(probs).argmax(axis=1), -1)   # a NaN row predicts nothing
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y[finite], pred[finite]), 1)
    support = np.bincount(y, minlength=k)
    mean_abs_diff = None
    both = finite & np.isfinite(base_probs).all(axis=1) if base_probs is not None else finite[:0]
    if both.any():
        mean_abs_diff = float(np.abs(probs[both].astype(np.float64) - base_probs[both]).mean())
    return result("ok", accuracy=float((pred == y).mean()) if n else 0.0,
                  per_class_accuracy=[float(cm[i, i] / support[i]) if support[i] else None for i in range(k)],
                  confusion_matrix=cm.tolist(), output_kind=kind, agreement=found.scores["agreement"],
                  mean_abs_diff=mean_abs_diff, checks=found.to_dict(), suspect=found.reasons), probs


def write_eval(variant_dir: str | os.PathLike, evaluation: Evaluation) -> Evaluation:
    """Write ``variant_dir/eval.json`` atomically (temp file + rename); returns ``evaluation``."""
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"write_eval takes an Evaluation, not {type(evaluation).__name__}")
    if evaluation.status not in STATUSES:
        raise EdgekitError(f"eval status {evaluation.status!r} is not one of {', '.join(STATUSES)}")
    atomic.write_json(Path(variant_dir) / EVAL_FILE, evaluation.to_dict())
    return evaluation
