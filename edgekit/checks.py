"""Numerical-fault checks: is a variant's output believable? (NaN, constant, one class, drifted from its parent.)

A variant that loads and runs can still be wrong. :func:`check_outputs` scores a variant's RAW outputs
(never with NaN/Inf replaced first) against its float parent's probabilities and says which checks
tripped; a variant that trips any is ``suspect`` (:attr:`edgekit.variant.Variant.status`): listed apart
by the report, never on the front, never recommended, failed by the gate unless a rule says
``allow_suspect = true``. Importable without TensorFlow (numpy only): the gate and the report use it.

The checks (kind: trips when ...)::

    nonfinite      any output row holds NaN or ±Inf (those rows never count as correct)
    all_zero       every output is exactly 0
    constant       the outputs do not depend on the input: max over classes of the per-class std
                   across examples <= min_output_std
    one_class      one class takes > max_class_share of the predictions while the parent's top
                   class takes <= max_class_share (a parent that itself predicts one class is no evidence)
    agreement      top-1 agreement with the parent < min_agreement
    kl             mean over examples of KL(parent || variant) > max_kl (nats; both distributions
                   clipped to KL_EPS and renormalised, so an int8 zero is not an infinite divergence)

The parent checks (one_class, agreement, kl) need the parent's outputs: the float baseline's, which
host evaluation already has. Rows with NaN/Inf are left out of the constant, one_class and kl scores and
count as disagreeing in agreement.

Thresholds (:data:`DEFAULTS`) are settings: ``[settings.checks]`` in a recipe, the ``checks`` argument
of :func:`edgekit.optimize.evaluate.evaluate`. The default ``max_kl`` comes from the default recipe's
honest variants on the Fashion-MNIST test set (10,000 images, tflite-runtime on the host), mean
KL(float32 || variant) in nats (`make demo` of 2026-12-04: the 93.5 % BatchNorm teacher, width-32
students):

    float16 0.00000, dynamic 0.00004, int8 0.0008, qat-int8 0.008, cluster16-int8 0.013,
    prune2of4-int8 0.032, prune80-cluster16-qat-int8 0.038, prune80-int8 0.047,
    student-float32 0.080, student-unlabelled-int8 0.081, student-int8 0.084
    (their top-1 agreement: 0.940 .. 1.000; top class share 0.103 .. 0.111; KL_EPS = 1e-4)

so ``max_kl = 0.25`` leaves about three times the largest honest shift (the distilled students) and
still trips on a variant whose probabilities moved while its top-1 class did not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from edgekit.errors import EdgekitError

KL_EPS = 1e-4
KINDS = ("nonfinite", "all_zero", "constant", "one_class", "agreement", "kl")
DEFAULTS: dict[str, float] = {
    "min_agreement": 0.90,     # top-1 agreement with the float parent, 0..1
    "max_kl": 0.25,            # mean KL(parent || variant), nats
    "max_class_share": 0.90,   # the share of predictions one class may take, 0..1
    "min_output_std": 1e-6,    # per-class std across examples at or below which outputs count as constant
}
_FRACTIONS = ("min_agreement", "max_class_share")


@dataclass(frozen=True)
class Thresholds:
    """When a check trips (see the module docstring); defaults in :data:`DEFAULTS`."""

    min_agreement: float = DEFAULTS["min_agreement"]
    max_kl: float = DEFAULTS["max_kl"]
    max_class_share: float = DEFAULTS["max_class_share"]
    min_output_std: float = DEFAULTS["min_output_std"]

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def thresholds(value: Thresholds | Mapping[str, Any] | None = None, where: str = "checks",
               error: type[EdgekitError] = EdgekitError) -> Thresholds:
    """Thresholds from None (the defaults), a :class:`Thresholds` or a mapping of some of its keys.

    A bad key or value is ``error`` in one line naming ``where`` (e.g. the recipe)."""
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if not isinstance(value, Mapping):
        raise error(f"{where} must be a table of thresholds, not {value!r}", f"keys: {', '.join(DEFAULTS)}")
    out: dict[str, float] = {}
    for key, v in value.items():
        if key not in DEFAULTS:
            raise error(f"{where}: unknown check threshold {key!r}", f"known: {', '.join(DEFAULTS)}")
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if ok and key in _FRACTIONS:
            ok = v <= 1
        if not ok:
            rng = "a number from 0 to 1" if key in _FRACTIONS else "a number ≥ 0"
            raise error(f"{where}: {key} must be {rng}, not {v!r}", f"default {key} = {DEFAULTS[key]}")
        out[key] = float(v)
    return Thresholds(**out)


@dataclass
class CheckResult:
    """The scores of :func:`check_outputs` and the checks that tripped.

    ``scores``: nonfinite_rows, all_zero, max_class_std, top_class, top_class_share,
    parent_top_class_share, agreement, kl (null when not computed), ``tripped``: [kind],
    ``reasons``: [one line per tripped check], in :data:`KINDS` order, ``limits``: the thresholds used."""

    scores: dict[str, Any]
    tripped: list[str]
    reasons: list[str]
    limits: Thresholds = Thresholds()

    @property
    def suspect(self) -> bool:
        return bool(self.tripped)

    def to_dict(self) -> dict[str, Any]:
        return {**self.scores, "tripped": list(self.tripped), "thresholds": self.limits.to_dict()}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def mean_kl(parent: np.ndarray, child: np.ndarray) -> float:
    """Mean over rows of KL(parent || child) in nats; both clipped to :data:`KL_EPS` and renormalised."""
    p = np.clip(np.asarray(parent, dtype=np.float64), KL_EPS, None)
    q = np.clip(np.asarray(child, dtype=np.float64), KL_EPS, None)
    p /= p.sum(axis=1, keepdims=True)
    q /= q.sum(axis=1, keepdims=True)
    return float((p * np.log(p / q)).sum(axis=1).mean()) if len(p) else 0.0


def check_outputs(raw: np.ndarray, probs: np.ndarray | None = None, parent: np.ndarray | None = None,
                  limits: Thresholds | Mapping[str, Any] | None = None) -> CheckResult:
    """Check a variant's raw (N, K) outputs; ``probs`` are the same as probabilities (rows with NaN/Inf
    may hold anything), ``parent`` the float parent's (N, K) probabilities (None: parent checks skipped)."""
    t = thresholds(limits)
    raw = np.asarray(raw)
    n = len(raw)
    finite = np.isfinite(raw).all(axis=1) if raw.ndim == 2 else np.zeros(n, dtype=bool)
    good = raw[finite].astype(np.float64)
    pg = good if probs is None else np.asarray(probs, dtype=np.float64)[finite]
    scores: dict[str, Any] = {"nonfinite_rows": int(n - finite.sum()), "all_zero": bool(n) and bool(np.all(raw == 0)),
                              "max_class_std": None, "top_class": None, "top_class_share": None,
                              "parent_top_class_share": None, "agreement": None, "kl": None}
    reasons: dict[str, str] = {}
    if scores["nonfinite_rows"]:
        reasons["nonfinite"] = f"NaN/Inf outputs for {scores['nonfinite_rows']:,} of {n:,} examples"
    if scores["all_zero"]:
        reasons["all_zero"] = "every output is 0"
    if len(good) >= 2:
        std = float(good.std(axis=0).max())
        scores["max_class_std"] = std
        if std <= t.min_output_std and not scores["all_zero"]:
            reasons["constant"] = f"outputs are constant across inputs (max per-class std {std:.2g})"
    pred = pg.argmax(axis=1) if len(pg) else np.zeros(0, dtype=np.int64)
    if len(pred):
        counts = np.bincount(pred, minlength=raw.shape[1] if raw.ndim == 2 else 1)
        scores["top_class"] = int(counts.argmax())
        scores["top_class_share"] = float(counts.max() / len(pred))
    if parent is not None and n:
        par = np.asarray(parent, dtype=np.float64)
        ppred = par.argmax(axis=1)
        pshare = float(np.bincount(ppred).max() / n)
        scores["parent_top_class_share"] = pshare
        share = scores["top_class_share"]
        if share is not None and share > t.max_class_share >= pshare:
            reasons["one_class"] = (f"class {scores['top_class']} takes {_pct(share)} of predictions "
                                    f"(> {_pct(t.max_class_share)}; the parent's top class {_pct(pshare)})")
        full = np.full(n, -1, dtype=np.int64)
        full[finite] = pred
        agreement = float((full == ppred).mean())
        scores["agreement"] = agreement
        if agreement < t.min_agreement:
            reasons["agreement"] = f"top-1 agreement with the parent {_pct(agreement)} < {_pct(t.min_agreement)}"
        if len(pg):
            kl = mean_kl(par[finite], pg)
            scores["kl"] = kl
            if kl > t.max_kl:
                reasons["kl"] = f"output distribution shifted: mean KL(parent || variant) {kl:.3g} > {t.max_kl:g}"
    tripped = [k for k in KINDS if k in reasons]
    return CheckResult(scores, tripped, [reasons[k] for k in tripped], t)


def agreement_reason(agreement: float | None, limits: Thresholds | Mapping[str, Any] | None = None,
                     what: str = "the parent") -> str | None:
    """One line when ``agreement`` is below ``min_agreement`` (e.g. a device result vs the host), else None."""
    t = thresholds(limits)
    if agreement is None or agreement >= t.min_agreement:
        return None
    return f"top-1 agreement with {what} {_pct(agreement)} < {_pct(t.min_agreement)}"
