"""Variant folders on disk: build beside the final place, swap in atomically, recover after a kill."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit._version import __version__
from edgekit.optimize.recipe import Recipe, VariantSpec
from edgekit.variant import MANIFEST_FILE, MANIFEST_SCHEMA, MODEL_FILE, Manifest, Variant

if TYPE_CHECKING:
    from edgekit.optimize.plan import Plan

TARGET_RUNTIME = "tflite-runtime 2.14.0"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def versions() -> dict[str, str]:
    out = {"edgekit": __version__}
    for key, dist in (("tensorflow", "tensorflow"), ("tf_keras", "tf-keras"),
                      ("tfmot", "tensorflow-model-optimization"), ("tflite_runtime", "tflite-runtime")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "not installed"
    out["converter"] = f"tensorflow {out['tensorflow']} TFLiteConverter"
    out["target_runtime"] = TARGET_RUNTIME
    return out


def parent_of(v: VariantSpec, recipe: Recipe) -> str | None:
    """The recipe variant whose chain is the longest proper prefix of ``v``'s (else the baseline)."""
    best, best_len = None, -1
    for other in recipe.variants:
        n = len(other.chain)
        if other is not v and n < len(v.chain) and v.chain[:n] == other.chain and n > best_len:
            best, best_len = other.name, n
    return best


def write_variant(out: Path, v: VariantSpec, p: Plan, data: bytes, seconds: float, params: int,
                  compat: tuple[bool, str | None]) -> Variant:
    """Build the variant folder beside its final place and swap it in (never half-written)."""
    from edgekit.tflite.inspect import read_model_info, weight_stats

    info = read_model_info(data)
    stats = weight_stats(data)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "name": v.name,
        "chain": [s.to_dict() for s in v.chain],
        "description": v.describe(),
        "parent": parent_of(v, p.recipe),
        "base": v.base if p.default_model or v.base == "student" else "model",
        "source_model": str(p.base.source),
        "sha256": sha256(data),
        "size_bytes": len(data),
        "gzip_size_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "sparsity": {"overall": stats["overall_sparsity"],
                     "layers": {k: s["sparsity"] for k, s in stats["layers"].items()}},
        "unique_weights": {k: s["unique"] for k, s in stats["layers"].items()},
        "param_count": int(params),
        "ops": info["ops"],
        "io": {"input": info["inputs"][0] if info.get("inputs") else None,
               "output": info["outputs"][0] if info.get("outputs") else None},
        "versions": versions(),
        "compatibility": {"runtime": TARGET_RUNTIME, "status": "ok" if compat[0] else "incompatible",
                          "reason": compat[1]},
        "training_seconds": round(seconds, 3),
        "seed": p.seed,
        "data": getattr(p.dataset, "name", None),
        "inputs_key": p.keys[v.name],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    final = out / "variants" / v.name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{v.name}.", dir=final.parent))
    try:
        (tmp / MODEL_FILE).write_bytes(data)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Variant(final, Manifest.from_dict(manifest))


OLD_MARK = ".old-"


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace folder ``final`` by ``tmp``; if that fails, the previous ``final`` is put back."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}{OLD_MARK}{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def cleanup_temp(out: Path) -> None:
    """Remove temp folders of an interrupted run; restore a previous variant caught mid-swap."""
    vroot = out / "variants"
    if not vroot.is_dir():
        return
    for d in sorted(vroot.iterdir()):
        if not (d.name.startswith(".") and d.is_dir()):
            continue
        if OLD_MARK in d.name:
            final = vroot / d.name[1:].split(OLD_MARK)[0]
            if not final.exists():
                os.replace(d, final)
                continue
        shutil.rmtree(d, ignore_errors=True)
