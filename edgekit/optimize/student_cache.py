"""Trained built-in students, kept in ``OUT/cache`` so no later run trains the same one again.

A distilled student is the costliest step of most chains (minutes, where a prune step takes
seconds). Within one run the builder's memo shares it between chains; this cache shares it between
runs: a search killed and re-run, a search that proposes a student it trained before with another
export, ``edgekit optimize`` after a recipe change. The key is everything the trained weights depend
on: the teacher (``Plan.base_key``), the training data (its fingerprint), the seed, the ``distill``
step with all its parameters, the untrained student's architecture, the edgekit version and the
training code (:func:`training_code`: the source of the passes that train it, TensorFlow's version). A
student from the user's own file is not cached (its initial weights are the file's). The weights
are written atomically; one that cannot be read is trained again. Delete ``OUT/cache`` to retrain.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from edgekit import atomic
from edgekit.clock import utc_now
from edgekit.digest import sha256_json


@functools.lru_cache(maxsize=1)
def training_code() -> str:
    """A digest of the code that trains a student (and of TensorFlow's version): an edgekit or TensorFlow
    whose training differs does not load a student the other trained. Once per process: the code this
    process imported is the code that trains."""
    import hashlib

    from edgekit.passes import augment, distillation, keras_env, training

    h = hashlib.sha256(keras_env.tf().__version__.encode())
    for mod in (distillation, training, augment):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:16]


class StudentCache:
    def __init__(self, plan: Any, directory: Path, progress: Any):
        self.p = plan
        self.dir = Path(directory)
        self.progress = progress
        self._data_key: str | None = None

    def path(self, v: Any, step: Any) -> tuple[Path, Any] | None:
        """``OUT/cache/student-<key>.h5`` and the untrained student, or None (the user's own student)."""
        from edgekit._version import __version__
        from edgekit.optimize.plan import student_arch

        if step.params.get("student", "default") != "default" or self.p.dataset is None:
            return None
        if self._data_key is None:
            self._data_key = self.p.dataset.fingerprint()
        student = student_arch(v, self.p.dataset)
        key = sha256_json({"teacher": self.p.base_key, "data": self._data_key, "seed": self.p.seed,
                           "step": step.to_dict(), "architecture": json.loads(student.to_json()),
                           "edgekit": __version__, "training": training_code()})
        return self.dir / f"student-{key[:16]}.h5", student

    def load(self, step: Any, found: tuple[Path, Any] | None) -> tuple[Any, float] | None:
        """(the trained student, the seconds its training took then), or None: train it. ``found``: :meth:`path`."""
        if found is None:
            return None
        weights, student = found
        meta = weights.with_suffix(".json")
        if not (weights.is_file() and meta.is_file()):
            return None
        try:
            seconds = float(json.loads(meta.read_text())["seconds"])
            student.load_weights(str(weights))
        except (OSError, ValueError, KeyError, TypeError, ImportError):
            return None   # unreadable: trained again, and written again
        self.progress.note(f"student {step.label(every=True)}: trained before ({seconds:.0f} s), "
                           f"reused from {weights.name}")
        return student, seconds

    def save(self, step: Any, found: tuple[Path, Any] | None, model: Any, seconds: float) -> None:
        """Keep ``model``, trained from ``step`` in ``seconds``, where :meth:`path` said (``found``)."""
        from edgekit.optimize import models

        if found is None:
            return
        weights = found[0]
        try:
            models.save_weights(model, weights)   # the weights first: a .json is only ever next to whole weights
            atomic.write_json(weights.with_suffix(".json"), {"step": step.to_dict(), "seconds": round(seconds, 3),
                                                             "written": utc_now()})
        except OSError as exc:   # a full disk: the run goes on (this variant is written, or fails, on its own)
            self.progress.note(f"student {step.label(every=True)}: not kept in {self.dir} ({exc.strerror or exc})")
