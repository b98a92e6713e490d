"""Results: one merged record per variant (manifest + host evaluation + device measurements).

``load_results(path)`` accepts an output dir (``OUT``), ``OUT/variants``, one variant dir, or a
results JSON file written by ``edgekit report --json`` / ``edgekit gate --update-baseline`` (so a
baseline file kept from ``main`` can be compared). Device measurements are read from
``OUT/bench.sqlite`` when it exists (``edgekit.bench.store.Store``, imported only then).

Results JSON (schema ``edgekit.results/1``)::

    schema          "edgekit.results/1"
    created         str     ISO-8601 UTC
    edgekit_version str
    source          str     what the results were loaded from
    baseline        str|null  name of the float32 baseline variant
    variants        [record]  sorted by name

record::

    name            str
    status          "ok" | "incompatible" | "failed"   (manifest compatibility, then host eval)
    reason          str|null  why not ok
    is_baseline     bool
    chain           [{"pass": str, "params": {...}}]
    parent, base    str|null
    sha256          str
    size_bytes      int
    gzip_size_bytes int
    param_count     int|null
    sparsity        float|null  overall sparsity
    host            {"status", "accuracy", "n", "agreement", "mean_abs_diff", "error"} | null
    device          [measurement summary], one per (device serial, threads, runner), newest kept:
        serial, profile, model, device, abi   str|null   (profile: emulated device profile name;
                                                     device: Android ro.product.device)
        threads         int
        runner          str
        status          "ok" | "incompatible" | "failed"
        reason          str|null
        runs            int      timed runs
        mean_ms, p50_ms, p90_ms, p99_ms, cv    float|null
        init_ms, first_inference_ms            float|null
        peak_memory_mb  float|null   (MiB)
        accuracy        float|null   on-device top-1
        instructions    dict|null  counted runs (edgekit bench --metric instructions): per_invoke, classes,
                        estimate {core, clock_mhz, ms} ... (docs/instructions.md)
        metric          "latency" | "instructions"   what the run was for (kept side by side)
        finished        str|null
    extra           {column: value}  extra per-variant columns shown by the report (later issues)

Measurements whose ``sha256`` differs from the variant's are stale (the variant was rebuilt) and
are dropped with a warning in ``Results.warnings``.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from edgekit.errors import EdgekitError

RESULTS_SCHEMA = "edgekit.results/1"
BENCH_DB = "bench.sqlite"
PERCENTILES = ("p50", "p90", "p99", "mean")


@dataclass
class Results:
    """All variants' merged records plus where they came from."""

    variants: list[dict[str, Any]]
    baseline: str | None = None
    source: str = ""
    created: str | None = None
    warnings: list[str] = field(default_factory=list)

    _index: dict[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def by_name(self) -> dict[str, dict[str, Any]]:
        if self._index is None or len(self._index) != len(self.variants):
            self._index = {r["name"]: r for r in self.variants}
        return self._index

    def get(self, name: str) -> dict[str, Any] | None:
        return self.by_name().get(name)

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.variants]

    @property
    def has_device(self) -> bool:
        return any(r.get("device") for r in self.variants)

    def to_dict(self) -> dict[str, Any]:
        from edgekit._version import __version__

        return {
            "schema": RESULTS_SCHEMA,
            "created": self.created or _now(),
            "edgekit_version": __version__,
            "source": self.source,
            "baseline": self.baseline,
            "variants": self.variants,
        }

    def write(self, path: str | Path) -> None:
        """Write the results JSON atomically."""
        from edgekit.atomic import write_json

        write_json(path, self.to_dict())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# building records


def variant_record(variant: Any) -> dict[str, Any]:
    """The record for one :class:`edgekit.variant.Variant` (no device data yet)."""
    m = variant.manifest
    ev = variant.evaluation
    host = None
    if ev is not None:
        host = {
            "status": ev.status,
            "accuracy": ev.accuracy if ev.status == "ok" else None,
            "n": ev.n,
            "agreement": ev.agreement,
            "mean_abs_diff": ev.mean_abs_diff,
            "error": ev.error,
        }
    return {
        "name": m.name,
        "status": variant.status,
        "reason": variant.reason,
        "is_baseline": False,
        "chain": m.chain or [],
        "parent": m.parent,
        "base": m.base,
        "sha256": m.sha256,
        "size_bytes": _int_or_none(m.size_bytes),
        "gzip_size_bytes": _int_or_none(m.gzip_size_bytes),
        "param_count": _int_or_none(m.param_count),
        "sparsity": m.overall_sparsity,
        "host": host,
        "device": [],
        "extra": {},
    }


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def measurement_summary(meas: Any) -> dict[str, Any]:
    """A compact dict for one :class:`edgekit.measurement.Measurement` (no raw latency list)."""
    dev = meas.device or {}
    stats = meas.stats
    stat = stats.get  # None for a missing or NaN value (JSON has no NaN)

    return {
        "serial": meas.device_serial,
        "profile": dev.get("profile"),
        "model": dev.get("model"),
        "device": dev.get("device"),
        "abi": dev.get("abi") or dev.get("ABI"),
        "threads": int(meas.threads),
        "runner": meas.runner,
        "status": meas.status,
        "reason": meas.reason,
        "runs": stats.runs or len(meas.latencies_ms or []),
        "mean_ms": stat("mean"),
        "p50_ms": stat("p50"),
        "p90_ms": stat("p90"),
        "p99_ms": stat("p99"),
        "cv": stat("cv"),
        "init_ms": meas.init_ms,
        "first_inference_ms": meas.first_inference_ms,
        "peak_memory_mb": meas.peak_memory_mb,
        "accuracy": meas.accuracy,
        "instructions": meas.instructions,
        "metric": (meas.config or {}).get("metric", "latency"),
        "finished": meas.finished,
    }


def mark_baseline(records: list[dict[str, Any]], declared: Iterable[str | None] = ()) -> str | None:
    """Pick the float32 baseline: a name given by eval.json ``baseline``, else the variant with an
    empty ``chain`` (the first by name if several). Marks ``is_baseline`` and returns the name."""
    from edgekit.variant import choose_baseline

    ordered = sorted(records, key=lambda r: r["name"])
    baseline = choose_baseline(((r["name"], r.get("chain")) for r in ordered), declared)
    for r in records:
        r["is_baseline"] = r["name"] == baseline
    return baseline


def build_results(variants: list[Any], measurements: list[Any] | None = None, source: str = "") -> Results:
    """Merge variants and measurements into :class:`Results` (pure: no file access)."""
    records = [variant_record(v) for v in variants]
    declared = [v.evaluation.baseline for v in variants if v.evaluation is not None]
    baseline = mark_baseline(records, declared)
    warnings: list[str] = []
    by_name = {r["name"]: r for r in records}
    newest: dict[tuple, tuple[str, dict]] = {}
    for meas in measurements or []:
        rec = by_name.get(meas.variant)
        if rec is None:
            continue
        if meas.sha256 and rec.get("sha256") and meas.sha256 != rec["sha256"]:
            warnings.append(f"{meas.variant}: measurement on {meas.device_serial} is for an older build (sha256 differs) — ignored; re-run edgekit bench")
            continue
        # a counted run (--metric instructions) is kept beside the newest latency run, not instead of it
        key = (meas.variant, meas.device_serial, int(meas.threads), meas.runner, (meas.config or {}).get("metric", "latency"))
        stamp = meas.finished or meas.started or ""
        if key not in newest or stamp >= newest[key][0]:
            newest[key] = (stamp, measurement_summary(meas))
    for (name, *_), (_, summary) in sorted(newest.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2], kv[0][3])):
        by_name[name]["device"].append(summary)
    records.sort(key=lambda r: r["name"])
    return Results(records, baseline=baseline, source=source, created=_now(), warnings=warnings)


# --------------------------------------------------------------------------------------------
# loading


def load_measurements(db: Path) -> list[Any]:
    """Measurements from a bench.sqlite (imports the bench store only when needed)."""
    try:
        from edgekit.bench.store import Store
    except ImportError as exc:  # pragma: no cover - depends on the bench stage being installed
        raise EdgekitError(f"{db} exists but the bench store cannot be loaded ({exc})", "reinstall edgekit (make setup)")
    try:
        store = Store(db)
        try:
            return list(store.all())
        finally:
            store.close()
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(f"cannot read measurements from {db}: {exc}", "re-run `edgekit bench` or delete the damaged file")


def _out_dir_for(path: Path) -> Path:
    if (path / "manifest.json").exists():  # one variant dir: OUT/variants/<name>
        return path.parent.parent
    if (path / "variants").is_dir():
        return path
    return path.parent  # OUT/variants


def results_from_dict(data: Any, source: str = "") -> Results:
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise EdgekitError(f"{source or 'results'} has schema {got!r}, expected {RESULTS_SCHEMA!r}",
                           "pass an OUT dir or a file written by `edgekit report --format json` / `edgekit gate --update-baseline`")
    variants = data.get("variants")
    if not isinstance(variants, list) or not all(isinstance(r, dict) and "name" in r for r in variants):
        raise EdgekitError(f"{source or 'results'}: 'variants' must be a list of records with a name")
    for r in variants:
        r.setdefault("status", "ok")
        r.setdefault("reason", None)
        r.setdefault("device", [])
        r.setdefault("extra", {})
        r.setdefault("chain", [])
        r.setdefault("host", None)
        r.setdefault("is_baseline", False)
    baseline = data.get("baseline")
    if baseline is None or baseline not in {r["name"] for r in variants}:
        baseline = mark_baseline(variants, [baseline])
    else:
        mark_baseline(variants, [baseline])
    return Results(variants, baseline=baseline, source=data.get("source") or source, created=data.get("created"))


def load_results(path: str | Path, measurements: list[Any] | None = None) -> Results:
    """Results from an OUT dir, OUT/variants, one variant dir or a results JSON file.

    ``measurements`` overrides reading ``OUT/bench.sqlite`` (tests, other stages).
    A report JSON (``edgekit.report/1``) is accepted too: its embedded results are used.
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
            raise EdgekitError(f"{path} is not a results JSON file", "pass an OUT dir or a file written by `edgekit report --format json`")
        except json.JSONDecodeError as exc:
            raise EdgekitError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})")
        if isinstance(data, dict) and isinstance(data.get("results"), dict):  # a report JSON
            data = data["results"]
        return results_from_dict(data, source=str(path))
    from edgekit.variant import load_variants

    variants = load_variants(path)
    if measurements is None:
        db = _out_dir_for(path) / BENCH_DB
        measurements = load_measurements(db) if db.exists() else []
    return build_results(variants, measurements, source=str(path))
