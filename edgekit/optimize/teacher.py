"""A distillation teacher's output probabilities on the training images: any kind of model, cached on disk.

Every kind of base model can teach a ``distill`` student, because the teacher only has to predict:

- ``tf-keras`` (a user's file, the built-in teacher, or a Keras 3 file the bridge rebuilt): its
  ``predict`` in this process;
- ``.tflite``: batched inference in the child-process runner (:func:`edgekit.tflite.runner.predict`,
  the interpreter can crash natively);
- a SavedModel tf-keras cannot rebuild, or a Keras 3 file the bridge cannot rebuild (exported to a
  SavedModel): converted once to a float32 ``.tflite`` (the TF converter, as its float32 variant is
  made) kept in ``OUT/cache``, then predicted like a ``.tflite``.

The outputs are computed once per (teacher, data, which images) and written atomically to
``OUT/cache/teacher-outputs-<key>.npy`` (key: the teacher's sha256, the data's fingerprint, which
images — "train" or "unlabelled"), so every student of a run and every later run reuses them.

Probabilities, not logits: rows that are not a distribution (negative values, or sums off 1 by more
than ``SUM_TOLERANCE``) are taken for logits and a softmax is applied, said once on stderr — a
teacher exported without its final Softmax still teaches correctly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import atomic
from edgekit.digest import sha256_json
from edgekit.errors import EdgekitError

SUM_TOLERANCE = 1e-2      # a row of probabilities sums to 1 within this
CACHE_SCHEMA = "edgekit.teacher-outputs/1"


def kind(base: Any) -> str:
    """The teacher's kind for the manifest: "tf-keras" | "keras3" | "saved-model" | "tflite"."""
    return str(getattr(base, "kind", "tf-keras"))


def describe(base: Any, sha256: str) -> dict[str, str]:
    """The manifest's ``teacher`` record: which kind of model taught the student, and its digest."""
    return {"kind": kind(base), "sha256": sha256}


def in_process(base: Any) -> bool:
    return getattr(base, "keras_model", None) is not None


def cache_path(cache_dir: Path, teacher_sha: str, data_fingerprint: str, which: str) -> Path:
    key = sha256_json({"schema": CACHE_SCHEMA, "teacher": teacher_sha, "data": data_fingerprint, "which": which})
    return Path(cache_dir) / f"teacher-outputs-{key[:24]}.npy"


class Teacher:
    """The run's teacher: outputs per image set, computed once (memory and ``OUT/cache``)."""

    def __init__(self, base: Any, sha256: str, dataset: Any, cache_dir: Path, progress: Any = None):
        self.base, self.sha256, self.dataset = base, sha256, dataset
        self.cache_dir = Path(cache_dir)
        self.progress = progress
        self._memo: dict[str, np.ndarray] = {}
        self._softmax_said = False
        self.computed: list[str] = []       # image sets predicted in this run (the others came from the cache)

    def probs(self, x: np.ndarray, which: str, keras_model: Any = None) -> np.ndarray:
        """The teacher's output probabilities on ``x`` (``which``: "train" or "unlabelled")."""
        if which in self._memo:
            return self._memo[which]
        path = cache_path(self.cache_dir, self.sha256, self.dataset.fingerprint(), which)
        raw = _load(path, len(x))
        if raw is not None:
            self._say(f"teacher outputs: {len(x)} {which} images reused from {path.name}")
        else:
            t0 = time.monotonic()
            self._status(f"teacher outputs on {len(x)} {which} images ({kind(self.base)})")
            raw = self._predict(x, keras_model)
            self.computed.append(which)
            with atomic.atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, raw, allow_pickle=False)
            self._say(f"teacher outputs: {len(x)} {which} images predicted by the {kind(self.base)} teacher "
                      f"in {time.monotonic() - t0:.0f} s, cached as {path.name}")
        self._memo[which] = self._as_probs(raw)
        return self._memo[which]

    # ------------------------------------------------------------------------------------- predict
    def _predict(self, x: np.ndarray, keras_model: Any) -> np.ndarray:
        model = keras_model if keras_model is not None else getattr(self.base, "keras_model", None)
        if model is not None:
            out = model.predict(x, batch_size=512, verbose=0)
        else:
            out = self._predict_tflite(self._tflite_file(), x)
        out = np.asarray(out, dtype=np.float32)
        out = out.reshape(len(x), -1)
        k = int(self.dataset.num_classes)
        if out.shape[1] != k:
            raise EdgekitError(f"the teacher {self.base.source} outputs {out.shape[1]} values per image but the data "
                               f"has {k} classes", "distil from a classifier of the data's classes")
        return out

    def _tflite_file(self) -> Path:
        """The teacher as a float .tflite: the file itself, or its SavedModel converted once (cached)."""
        if kind(self.base) == "tflite":
            return Path(self.base.source)
        sm = getattr(self.base, "saved_model_dir", None)
        if sm is None:
            raise EdgekitError(f"the teacher {self.base.source} has neither a Keras model nor a SavedModel to run")
        dest = self.cache_dir / f"teacher-float32-{self.sha256[:16]}.tflite"
        if not dest.exists():
            from edgekit.passes import quantization as q

            self._status(f"converting the {kind(self.base)} teacher to a float32 .tflite to predict with")
            atomic.write_bytes(dest, q.convert(saved_model_dir=Path(sm), mode="float32"))
        return dest

    @staticmethod
    def _predict_tflite(path: Path, x: np.ndarray) -> np.ndarray:
        from edgekit.tflite.runner import InterpreterFailure, predict

        try:
            # a big teacher on many images: allow ~20 ms an image beyond the runner's usual 10 min
            return predict(path, x, batch_size=256, timeout=600 + 0.02 * len(x))
        except InterpreterFailure as exc:
            raise EdgekitError(f"the teacher {path.name} could not predict the training images: {exc.message}",
                               "check the teacher runs in tflite-runtime (edgekit bench), or distil from its Keras model") from None

    # ------------------------------------------------------------------------------------- outputs
    def _as_probs(self, raw: np.ndarray) -> np.ndarray:
        sums = raw.sum(axis=1)
        if raw.min() >= -1e-6 and np.all(np.abs(sums - 1.0) <= SUM_TOLERANCE):
            return raw
        if not self._softmax_said:
            self._softmax_said = True
            self._say(f"teacher outputs: {self.base.source} gives logits, not probabilities (rows sum to "
                      f"{float(sums.min()):.3g}..{float(sums.max()):.3g}); a softmax is applied")
        z = raw.astype(np.float64) - raw.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def _status(self, text: str) -> None:
        if self.progress is not None:
            self.progress.status("teacher", text, None)

    def _say(self, text: str) -> None:
        """One line on stderr (in both progress modes)."""
        import sys

        from edgekit.passes.keras_env import OUTPUT_LOCK

        with OUTPUT_LOCK:
            print(text, file=sys.stderr, flush=True)


def _load(path: Path, rows: int) -> np.ndarray | None:
    """The cached outputs, or None (absent, unreadable or of the wrong length: computed again)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.ndim != 2 or len(arr) != rows:
        return None
    return arr.astype(np.float32, copy=False)

