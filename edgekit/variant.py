"""The Variant: one ``.tflite`` file, the manifest saying how it was made, and its host evaluation.

On disk: ``OUT/variants/<name>/model.tflite``, ``manifest.json`` and, after host evaluation,
``eval.json``. Every stage after ``optimize`` reads variants through :func:`load_variants`.
A variant's ``status`` and ``reason`` are derived here, once (:attr:`Variant.status`), and the float
baseline of a set of variants is chosen here, once (:func:`choose_baseline`).

The field lists in the class docstrings below are the documented schemas (``docs/schemas.md`` is
generated from them, and a test keeps both equal to the dataclass fields).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from edgekit.errors import EdgekitError

MANIFEST_SCHEMA = "edgekit.variant/1"
EVAL_SCHEMA = "edgekit.eval/1"
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
EVAL_FILE = "eval.json"
STATUSES = ("ok", "incompatible", "failed")


def _known(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


class _FileRecord:
    """JSON round trip for the file records: keys this edgekit does not know stay in ``extra``."""

    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        out.update(out.pop("extra"))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):  # noqa: ANN206
        known, extra = _known(cls, data)
        return cls(**cls._nested(known), extra=extra)

    @classmethod
    def _nested(cls, known: dict[str, Any]) -> dict[str, Any]:
        return known


@dataclass
class Compatibility:
    """Whether the device runtime loads the file (checked in a child process when it was made).

    Fields:
        runtime     str       the runtime checked, e.g. "tflite-runtime 2.14.0"
        status      str       "ok" | "incompatible"
        reason      str|null  the runtime's own words when it cannot load the file
    """

    runtime: str = ""
    status: str = "ok"
    reason: str | None = None


@dataclass
class Manifest(_FileRecord):
    """manifest.json (schema ``edgekit.variant/1``).

    Fields:
        schema           str     "edgekit.variant/1"
        name             str     variant name (unique within a recipe; the folder name)
        chain            list    [{"pass": "prune", "params": {...}}, ...] in the order applied
        description      str     the chain in words, e.g. "prune(0.8) → ptq-int8"
        parent           str|null  the variant whose chain is the longest proper prefix of this one's
        base             str     "teacher" | "student" | "model" (the user's model)
        source_model     str     the model the chain started from
        sha256           str     of model.tflite
        size_bytes       int
        gzip_size_bytes  int     gzip -9 of model.tflite
        sparsity         dict    {"overall": float, "layers": {layer: float}} measured on the exported weights
        unique_weights   dict    {layer: int} distinct values per weight tensor (clustering shows here)
        param_count      int
        ops              list    [{"op": "CONV_2D", "version": 3, "count": 2}, ...] read from the flatbuffer
        io               dict    {"input": {...}, "output": {...}}: shape, dtype, quantization (scale, zero_point)
        versions         dict    {"edgekit", "tensorflow", "tf_keras", "tfmot", "converter", "target_runtime", ...}
        compatibility    Compatibility  loadability in the device runtime
        training_seconds float
        timings          dict    seconds per step of making it: {"train", "convert", "check"}
        seed             int
        data             str|null  the data set the variant was made from (e.g. "fashion-mnist")
        input_range      dict|null  input normalisation used by calibration and every evaluation: {"spec", "mean", "std", "source"}; model input = (pixel 0..255 - mean) / std
        teacher          dict|null  a distilled variant's teacher: {"kind": "tf-keras" | "keras3" | "saved-model" | "tflite", "sha256"}
        student          dict|null  a distilled variant's student: {"arch": "built-in", "width", "depth", "resolution", "expansion"} or {"arch": "file", "source"}, and its "param_count" and "macs" (multiply-accumulates of one inference, from the .tflite)
        inputs_key       str     hash of everything the variant depends on (skip-if-unchanged)
        created          str     ISO-8601 UTC
        study            str|null  the edgekit search study that made it (null: a recipe variant)
        trial            int|null  its trial number in that study
        extra            dict    keys this edgekit does not know (kept, written back unchanged)
    """

    name: str
    sha256: str
    size_bytes: int
    gzip_size_bytes: int
    schema: str = MANIFEST_SCHEMA
    chain: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    parent: str | None = None
    base: str = "model"
    source_model: str = ""
    sparsity: dict[str, Any] = field(default_factory=lambda: {"overall": 0.0, "layers": {}})
    unique_weights: dict[str, int] = field(default_factory=dict)
    param_count: int = 0
    ops: list[dict[str, Any]] = field(default_factory=list)
    io: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    compatibility: Compatibility = field(default_factory=Compatibility)
    training_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    data: str | None = None
    input_range: dict[str, Any] | None = None
    teacher: dict[str, Any] | None = None
    student: dict[str, Any] | None = None
    inputs_key: str = ""
    created: str = ""
    study: str | None = None
    trial: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overall_sparsity(self) -> float | None:
        s = self.sparsity.get("overall") if isinstance(self.sparsity, dict) else self.sparsity
        return None if s is None else float(s)

    @classmethod
    def _nested(cls, known: dict[str, Any]) -> dict[str, Any]:
        compat = known.get("compatibility")
        if isinstance(compat, dict):
            known["compatibility"] = Compatibility(**_known(Compatibility, compat)[0])
        return known


@dataclass
class Evaluation(_FileRecord):
    """eval.json (schema ``edgekit.eval/1``): the host evaluation in tflite-runtime.

    Fields:
        schema              str       "edgekit.eval/1"
        status              str       "ok" | "failed" | "incompatible"
        error               str|null  why not ok
        n                   int       evaluation examples
        accuracy            float|null  top-1, 0..1
        per_class_accuracy  list|null   [float|null] per class (null: no examples of that class)
        confusion_matrix    list|null   [[int]] rows = true class, columns = predicted
        baseline            str|null  name of the float32 baseline variant
        agreement           float|null  top-1 agreement with the baseline, 0..1
        mean_abs_diff       float|null  mean |probability difference| vs the baseline
        sha256              str|null  of the model evaluated
        output_kind         str|null  "probabilities" | "logits" (how the outputs were read)
        checks              dict|null  numerical-fault check scores (edgekit.checks): nonfinite_rows, all_zero, max_class_std, top_class, top_class_share, parent_top_class_share, agreement, kl, tripped [kind], thresholds {name: value used}
        suspect             list      [str] one line per tripped check (empty: none tripped); any makes the variant "suspect"
        seconds             float|null  how long the evaluation took
        extra               dict      keys this edgekit does not know (kept, written back unchanged)
    """

    status: str = "ok"
    error: str | None = None
    n: int = 0
    accuracy: float | None = None
    per_class_accuracy: list[float | None] | None = None
    confusion_matrix: list[list[int]] | None = None
    baseline: str | None = None
    agreement: float | None = None
    mean_abs_diff: float | None = None
    sha256: str | None = None
    output_kind: str | None = None
    checks: dict[str, Any] | None = None
    suspect: list[str] = field(default_factory=list)
    seconds: float | None = None
    schema: str = EVAL_SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _nested(cls, known: dict[str, Any]) -> dict[str, Any]:
        sus = known.get("suspect")
        known["suspect"] = [str(r) for r in sus] if isinstance(sus, list) else [str(sus)] if sus else []
        return known


@dataclass
class Variant:
    """A .tflite file with its manifest (and host evaluation, once done)."""

    dir: Path
    manifest: Manifest
    evaluation: Evaluation | None = field(default=None)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def path(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def sha256(self) -> str:
        return self.manifest.sha256

    @property
    def size_bytes(self) -> int:
        return int(self.manifest.size_bytes)

    @property
    def gzip_size_bytes(self) -> int:
        return int(self.manifest.gzip_size_bytes)

    @property
    def compatible(self) -> bool:
        return self.manifest.compatibility.status == "ok"

    @property
    def accuracy(self) -> float | None:
        ev = self.evaluation
        return ev.accuracy if ev is not None and ev.status == "ok" else None

    @cached_property
    def _status(self) -> tuple[str, str | None]:
        compat = self.manifest.compatibility
        if compat.status != "ok":
            return "incompatible", compat.reason or f"incompatible with {compat.runtime or 'the target runtime'}"
        ev = self.evaluation
        if ev is not None and ev.status != "ok":
            status = ev.status if ev.status in STATUSES else "failed"
            return status, ev.error or f"host evaluation {ev.status}"
        if ev is not None and ev.suspect:
            return "suspect", "; ".join(str(r) for r in ev.suspect)
        return "ok", None

    @property
    def status(self) -> str:
        """ "ok" | "incompatible" (the device runtime cannot load it) | "failed" (host evaluation failed)
        | "suspect" (evaluated, but a numerical-fault check tripped: :mod:`edgekit.checks`)."""
        return self._status[0]

    @property
    def reason(self) -> str | None:
        """Why the status is not ok (the runtime's or the evaluation's own words; for suspect, the tripped checks)."""
        return self._status[1]

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self.evaluation = evaluation
        self.__dict__.pop("_status", None)

    @classmethod
    def load(cls, directory: str | Path) -> "Variant":
        directory = Path(directory)
        mpath = directory / MANIFEST_FILE
        try:
            data = json.loads(mpath.read_text())
        except FileNotFoundError:
            raise EdgekitError(f"{directory} is not a variant: no {MANIFEST_FILE}",
                               "point at OUT/variants or one variant folder made by `edgekit optimize`")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EdgekitError(f"{mpath} is not valid JSON ({getattr(exc, 'msg', exc)})", "re-run `edgekit optimize` to rewrite it")
        if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise EdgekitError(f"{mpath} has schema {got!r}, expected {MANIFEST_SCHEMA!r}")
        try:
            manifest = Manifest.from_dict(data)
        except TypeError as exc:  # a required field is missing
            raise EdgekitError(f"{mpath} is incomplete ({exc})", "re-run `edgekit optimize` to rewrite it") from None
        evaluation = None
        epath = directory / EVAL_FILE
        if epath.exists():
            try:
                raw = json.loads(epath.read_text())
                evaluation = Evaluation.from_dict(raw) if isinstance(raw, dict) else None
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
                evaluation = None  # unreadable: the variant counts as not evaluated (optimize re-evaluates)
        return cls(directory, manifest, evaluation)


def choose_baseline(candidates: Iterable[tuple[str, Any]], declared: Iterable[str | None] = ()) -> str | None:
    """The float32 baseline among ``(name, chain)`` pairs: the first ``declared`` name that is a candidate
    (eval.json's ``baseline``, a budget's ``float_baseline``), else the first candidate, in the order given,
    whose chain is empty. The one rule every stage uses."""
    items = list(candidates)
    names = {n for n, _ in items}
    for d in declared:
        if d and d in names:
            return d
    return next((n for n, chain in items if not chain), None)


def baseline_variant(variants: Iterable[Variant]) -> Variant | None:
    vs = list(variants)
    name = choose_baseline(((v.name, v.manifest.chain) for v in vs),
                           [v.evaluation.baseline for v in vs if v.evaluation is not None])
    return next((v for v in vs if v.name == name), None)


def load_variants(path: str | Path) -> list[Variant]:
    """Variants under ``path``: an output dir (``OUT``), ``OUT/variants`` or a single variant dir; sorted by name."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist", "run `edgekit optimize --out DIR` first")
    if (path / MANIFEST_FILE).exists():
        return [Variant.load(path)]
    if (path / "variants").is_dir():
        path = path / "variants"
    if not path.is_dir():
        raise EdgekitError(f"{path} is not a folder of variants", "pass OUT, OUT/variants or one variant folder")
    dirs = sorted(p for p in path.iterdir() if (p / MANIFEST_FILE).exists())
    if not dirs:
        raise EdgekitError(f"no variants found under {path}", "run `edgekit optimize --out DIR` and pass DIR or DIR/variants")
    return [Variant.load(d) for d in dirs]
