"""Variant folders on disk: the Manifest record of a variant, built beside its final place and swapped in
atomically; recovery after a kill.

    manifest = make_manifest(spec, tflite_bytes, recipe=..., base=..., ...)   # an edgekit.variant.Manifest
    variant = write_variant(out, manifest, tflite_bytes)                      # OUT/variants/<name>/, atomically
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgekit._version import __version__
from edgekit.clock import utc_now
from edgekit.digest import sha256_bytes
from edgekit.optimize.recipe import Recipe, VariantSpec
from edgekit.variant import MANIFEST_FILE, MODEL_FILE, Compatibility, Manifest, Variant

TARGET_RUNTIME = "tflite-runtime 2.14.0"


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
    """The recipe variant whose chain is the longest proper prefix of ``v``'s (else None)."""
    best, best_len = None, -1
    for other in recipe.variants:
        n = len(other.chain)
        if other is not v and n < len(v.chain) and v.chain[:n] == other.chain and n > best_len:
            best, best_len = other.name, n
    return best


def compatibility(ok: bool, reason: str | None) -> Compatibility:
    """The device-runtime check's answer as the manifest's record."""
    return Compatibility(runtime=TARGET_RUNTIME, status="ok" if ok else "incompatible", reason=None if ok else reason)


def make_manifest(v: VariantSpec, data: bytes, *, recipe: Recipe, base: str, source_model: str, seed: int,
                  data_name: str | None, inputs_key: str, param_count: int, compat: Compatibility,
                  training_seconds: float, timings: dict[str, float] | None = None,
                  input_range: dict | None = None, converter: str | None = None,
                  teacher: dict | None = None) -> Manifest:
    """The manifest of variant ``v`` whose .tflite bytes are ``data`` (ops, sizes and weights read from them).

    ``timings``: seconds per step of making it (train, convert, check), ``Manifest.timings``;
    ``input_range``: ``InputRange.to_dict()``; ``converter``: what made the file when not the TF converter
    (e.g. "litert-quantizer 0.11.0" for a .tflite input); ``teacher``: a distilled variant's {"kind", "sha256"};
    its ``student`` record (family parameters, parameters, MACs) is read from ``v`` and ``data``.
    """
    vers = versions()
    if converter is not None:
        vers["converter"] = converter
    from edgekit.tflite.inspect import read_model_info, weight_stats

    info = read_model_info(data)
    stats = weight_stats(data)
    return Manifest(
        name=v.name,
        chain=[s.to_dict() for s in v.chain],
        description=v.describe(),
        parent=parent_of(v, recipe),
        base=base,
        source_model=source_model,
        sha256=sha256_bytes(data),
        size_bytes=len(data),
        gzip_size_bytes=len(gzip.compress(data, compresslevel=9, mtime=0)),
        sparsity={"overall": stats["overall_sparsity"],
                  "layers": {k: s["sparsity"] for k, s in stats["layers"].items()}},
        unique_weights={k: s["unique"] for k, s in stats["layers"].items()},
        param_count=int(param_count),
        ops=info["ops"],
        io={"input": info["inputs"][0] if info.get("inputs") else None,
            "output": info["outputs"][0] if info.get("outputs") else None},
        versions=vers,
        compatibility=compat,
        training_seconds=round(float(training_seconds), 3),
        seed=int(seed),
        data=data_name,
        input_range=input_range,
        teacher=teacher,
        student=student_record(v, data, info, param_count),
        inputs_key=inputs_key,
        created=utc_now(),
        timings={k: round(float(secs), 3) for k, secs in (timings or {}).items()},
    )


def tflite_macs(data: bytes) -> int:
    """Multiply-accumulates of one inference of the .tflite ``data`` (the ``edgekit inspect`` count)."""
    from edgekit.tflite import model as tfl
    from edgekit.tflite.describe import _op_macs

    m = tfl.parse(data, "the model bytes")
    sg = m.subgraphs[0]
    return int(sum(_op_macs(m.opcodes[op["opcode"]]["op"], sg["tensors"], op["inputs"], op["outputs"])
                   for op in sg["operators"]))


def student_record(v: VariantSpec, data: bytes, info: dict, param_count: int) -> dict | None:
    """The manifest's ``student`` of a distilled variant (None: not distilled): the built-in family's
    parameters (the resolution it sees: the images' own shorter side when not given) or the file, and
    its parameters and MACs."""
    if v.base != "student":
        return None
    params = v.chain[0].params
    if params.get("student", "default") != "default":
        rec: dict = {"arch": "file", "source": params["student"]}
    else:
        from edgekit.optimize import student

        shape = (info.get("inputs") or [{}])[0].get("shape") or []
        own = min(int(d) for d in shape[1:3]) if len(shape) == 4 else None
        rec = {"arch": "built-in", **student.resolved(params)}
        rec["resolution"] = rec["resolution"] or own
    return {**rec, "param_count": int(param_count), "macs": tflite_macs(data)}


def write_variant(out: Path, manifest: Manifest, data: bytes) -> Variant:
    """Build ``OUT/variants/<name>/`` (model.tflite + manifest.json) beside its final place and swap it in
    (never half-written: a failure leaves the previous folder, or none)."""
    final = Path(out) / "variants" / manifest.name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{manifest.name}.", dir=final.parent))
    try:
        (tmp / MODEL_FILE).write_bytes(data)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Variant(final, manifest)


OLD_MARK = ".old-"


def remove_variant(out: Path, name: str) -> None:
    """Take ``OUT/variants/<name>`` away at once (renamed to a temp folder, then deleted: never half there)."""
    final = Path(out) / "variants" / name
    if not final.is_dir():
        return
    gone = Path(tempfile.mkdtemp(prefix=f".{name}.gone.", dir=final.parent))
    os.replace(final, gone / name)
    shutil.rmtree(gone, ignore_errors=True)


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
    vroot = Path(out) / "variants"
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
