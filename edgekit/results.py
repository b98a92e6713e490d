"""Results: one typed record per variant (manifest + host evaluation + device measurement summaries).

``load_results(path)``: an OUT dir (measurements from ``OUT/bench.sqlite``, old rows included),
``OUT/variants``, one variant dir, or a results / report JSON file (``edgekit.results/1``, e.g. a
baseline kept from ``main``). Status and reason come from :attr:`edgekit.variant.Variant.status`, the
float baseline from :func:`edgekit.variant.choose_baseline`. Measurements of an older build (sha256
differs) are dropped with a warning. The schema is the Fields blocks of the record classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from edgekit.clock import utc_now
from edgekit.device_summary import DeviceSummary, _known, _names  # noqa: F401 - DeviceSummary is part of this API
from edgekit.errors import EdgekitError

RESULTS_SCHEMA = "edgekit.results/1"
BENCH_DB = "bench.sqlite"


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


@dataclass
class HostEval:
    """The host evaluation of a variant (from its eval.json).

    Fields:
        status         str         "ok" | "failed" | "incompatible"
        accuracy       float|null  top-1, 0..1 (null unless status is ok)
        n              int         evaluation examples
        agreement      float|null  top-1 agreement with the float baseline, 0..1
        mean_abs_diff  float|null  mean |probability difference| vs the baseline
        error          str|null    why not ok
        suspect        list        [str] numerical-fault checks that tripped (edgekit.checks), one line each
    """

    status: str = "ok"
    accuracy: float | None = None
    n: int = 0
    agreement: float | None = None
    mean_abs_diff: float | None = None
    error: str | None = None
    suspect: list[str] = field(default_factory=list)


@dataclass
class VariantRecord:
    """One variant in the results: its manifest, host evaluation and device measurement summaries.

    Fields:
        name             str         variant name
        status           str         "ok" | "incompatible" | "failed" | "suspect" (Variant.status: compatibility, host eval, checks)
        reason           str|null    why not ok
        is_baseline      bool        the float32 baseline of these results
        chain            list        [{"pass": str, "params": {...}}] in the order applied
        parent           str|null    the variant whose chain is the longest proper prefix of this one's
        base             str|null    "teacher" | "student" | "model"
        sha256           str         of model.tflite
        size_bytes       int|null
        gzip_size_bytes  int|null    gzip -9 of model.tflite
        param_count      int|null
        sparsity         float|null  overall sparsity of the exported weights
        host             HostEval|null  the host evaluation (eval.json)
        device           list        [DeviceSummary], sorted by serial, threads, runner
        extra            dict        {column: value} extra per-variant columns from the inputs (shown by the HTML report)
    """

    name: str
    status: str = "ok"
    reason: str | None = None
    is_baseline: bool = False
    chain: list[dict[str, Any]] = field(default_factory=list)
    parent: str | None = None
    base: str | None = None
    sha256: str = ""
    size_bytes: int | None = None
    gzip_size_bytes: int | None = None
    param_count: int | None = None
    sparsity: float | None = None
    host: HostEval | None = None
    device: list[DeviceSummary] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_variant(cls, variant: Any) -> "VariantRecord":
        """The record of one :class:`edgekit.variant.Variant` (no device data yet)."""
        m, ev = variant.manifest, variant.evaluation
        host = None
        if ev is not None:
            host = HostEval(status=ev.status, accuracy=ev.accuracy if ev.status == "ok" else None, n=int(ev.n or 0),
                            agreement=ev.agreement, mean_abs_diff=ev.mean_abs_diff, error=ev.error, suspect=list(ev.suspect))
        return cls(name=m.name, status=variant.status, reason=variant.reason, chain=list(m.chain or []),
                   parent=m.parent, base=m.base, sha256=m.sha256, size_bytes=_int(m.size_bytes),
                   gzip_size_bytes=_int(m.gzip_size_bytes), param_count=_int(m.param_count),
                   sparsity=m.overall_sparsity, host=host)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VariantRecord":
        kw = _known(cls, data)
        host = kw.get("host")
        kw["host"] = HostEval(**_known(HostEval, host)) if isinstance(host, dict) else None
        kw["device"] = [DeviceSummary.from_dict(d) for d in kw.get("device") or () if isinstance(d, dict)]
        kw["chain"] = list(kw.get("chain") or [])
        kw["extra"] = dict(kw.get("extra") or {})
        kw["status"] = kw.get("status") or "ok"
        for k in ("size_bytes", "gzip_size_bytes", "param_count"):
            kw[k] = _int(kw.get(k))
        sp = kw.get("sparsity")
        kw["sparsity"] = sp.get("overall") if isinstance(sp, dict) else sp
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nested dicts such as ``chain`` and ``extra`` are shared, not copied)."""
        out = dict(vars(self))
        out["host"] = dict(vars(self.host)) if self.host is not None else None
        out["device"] = [dict(vars(d)) for d in self.device]
        return out


@dataclass
class Results:
    """All variants' records plus where they came from (the ``edgekit.results/1`` document).

    Fields:
        variants  list      [VariantRecord], sorted by name
        baseline  str|null  name of the float32 baseline variant
        source    str       what the results were loaded from
        created   str|null  ISO-8601 UTC
        warnings  list      [str] e.g. stale measurements ignored (not written to JSON)
    """

    variants: list[VariantRecord]
    baseline: str | None = None
    source: str = ""
    created: str | None = None
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.variants = [r if isinstance(r, VariantRecord) else VariantRecord.from_dict(r) for r in self.variants]
        self._index: dict[str, VariantRecord] = {}

    def get(self, name: str | None) -> VariantRecord | None:
        if len(self._index) != len(self.variants):
            self._index = {r.name: r for r in self.variants}
        return self._index.get(name) if name is not None else None

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.variants]

    @property
    def has_device(self) -> bool:
        return any(r.device for r in self.variants)

    def measured(self) -> list[DeviceSummary]:
        return [d for r in self.variants for d in r.device]

    def to_dict(self) -> dict[str, Any]:
        from edgekit._version import __version__

        return {"schema": RESULTS_SCHEMA, "created": self.created or utc_now(), "edgekit_version": __version__,
                "source": self.source, "baseline": self.baseline, "variants": [r.to_dict() for r in self.variants]}

    def write(self, path: str | Path) -> None:
        """Write the results JSON atomically."""
        from edgekit.atomic import write_json

        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> "Results":
        """Read an ``edgekit.results/1`` document (EdgekitError naming what is wrong)."""
        if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise EdgekitError(f"{source or 'results'} has schema {got!r}, expected {RESULTS_SCHEMA!r}",
                               "pass an OUT dir or a file written by `edgekit report --format json` / `edgekit gate --update-baseline`")
        raw = data.get("variants")
        if not isinstance(raw, list) or not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in raw):
            raise EdgekitError(f"{source or 'results'}: 'variants' must be a list of records with a name")
        try:
            records = sorted((VariantRecord.from_dict(r) for r in raw), key=lambda r: r.name)
        except (TypeError, ValueError) as exc:
            raise EdgekitError(f"{source or 'results'}: a variant record is malformed ({exc})") from None
        baseline = mark_baseline(records, [data.get("baseline")])
        return cls(records, baseline=baseline, source=data.get("source") or source, created=data.get("created"))


def mark_baseline(records: list[VariantRecord], declared: Iterable[str | None] = ()) -> str | None:
    """Choose the float32 baseline (:func:`edgekit.variant.choose_baseline`), mark ``is_baseline``, return its name."""
    from edgekit.variant import choose_baseline

    ordered = sorted(records, key=lambda r: r.name)
    baseline = choose_baseline(((r.name, r.chain) for r in ordered), declared)
    for r in records:
        r.is_baseline = r.name == baseline
    return baseline


def build_results(variants: list[Any], measurements: list[Any] | None = None, source: str = "") -> Results:
    """Merge variants and measurements into :class:`Results` (pure: no file access)."""
    records = sorted((VariantRecord.from_variant(v) for v in variants), key=lambda r: r.name)
    baseline = mark_baseline(records, [v.evaluation.baseline for v in variants if v.evaluation is not None])
    by_name = {r.name: r for r in records}
    warnings: list[str] = []
    newest: dict[tuple, tuple[str, Any]] = {}
    for meas in measurements or []:
        rec = by_name.get(meas.variant)
        if rec is None:
            continue
        if meas.sha256 and rec.sha256 and meas.sha256 != rec.sha256:
            warnings.append(f"{meas.variant}: measurement on {meas.device_serial} is for an older build (sha256 differs) — ignored; re-run edgekit bench")
            continue
        # a counted run (--metric instructions) is kept beside the newest latency run, not instead of it
        key = (meas.variant, meas.identity, int(meas.threads), meas.runner, meas.metric)
        stamp = meas.finished or meas.started or ""
        if key not in newest or stamp >= newest[key][0]:
            newest[key] = (stamp, meas)
    for key in sorted(newest):
        by_name[key[0]].device.append(DeviceSummary.from_measurement(newest[key][1]))
    return Results(records, baseline=baseline, source=source, created=utc_now(), warnings=warnings)


def load_results(path: str | Path, measurements: list[Any] | None = None) -> Results:
    """Results from an OUT dir, OUT/variants, one variant dir, or a results / report JSON file.

    ``measurements`` overrides reading ``OUT/bench.sqlite`` (tests, other stages).
    """
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist", "pass an OUT dir from `edgekit optimize` or a results JSON file")
    if path.is_file():
        if path.name == BENCH_DB:
            raise EdgekitError(f"{path} holds only measurements", f"pass the folder that contains it ({path.parent})")
        try:
            data = json.loads(path.read_text())
        except UnicodeDecodeError:
            raise EdgekitError(f"{path} is not a results JSON file", "pass an OUT dir or a file written by `edgekit report --format json`") from None
        except json.JSONDecodeError as exc:
            raise EdgekitError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict) and isinstance(data.get("results"), dict):  # a report JSON
            data = data["results"]
        return Results.from_dict(data, source=str(path))
    from edgekit.variant import load_variants

    variants = load_variants(path)
    if measurements is None:
        # OUT/variants/<name> (one variant), OUT, or OUT/variants
        out = path.parent.parent if (path / "manifest.json").exists() else path if (path / "variants").is_dir() else path.parent
        db = out / BENCH_DB
        from edgekit.bench.store import load_measurements   # sqlite3 only, nothing of [bench]

        measurements = load_measurements(db) if db.exists() else []
    return build_results(variants, measurements, source=str(path))
