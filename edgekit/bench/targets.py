"""What ``edgekit bench`` measures: :class:`Target` s from variants, variant folders or bare .tflite files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from edgekit.digest import sha256_file
from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class Target:
    """One model to measure: a variant from ``edgekit optimize`` or a bare .tflite file."""

    name: str
    path: Path
    sha256: str
    size_bytes: int
    host_accuracy: float | None = None
    data: str | None = None                # manifest "data": the data set the variant was made from
    input_range: dict | None = None        # manifest "input_range": applied to the device evaluation set
    invalid: str | None = None             # why the file is no valid .tflite (pre-check), else None

    @classmethod
    def from_variant(cls, v: Any) -> "Target":
        return cls(v.name, v.path, v.sha256, v.size_bytes, v.accuracy, v.manifest.data,
                   getattr(v.manifest, "input_range", None), precheck(v.path))

    @classmethod
    def from_file(cls, path: Path) -> "Target":
        return cls(path.stem, path, sha256_file(path), path.stat().st_size, invalid=precheck(path))


def precheck(path: Path) -> str | None:
    """The flatbuffer check ``edgekit inspect`` makes: None for a readable .tflite, else the one-line
    reason (``truncated: 31,053 of at least 93,160 bytes``), recorded instead of the runtime's C++ text."""
    from edgekit.tflite.describe import problem

    return problem(path)


def _is_variant(obj: Any) -> bool:
    return hasattr(obj, "manifest") and hasattr(obj, "dir") and hasattr(obj, "path")


def resolve_targets(items: Iterable[Any]) -> tuple[list[Target], Path]:
    """Targets from Variant objects, OUT, OUT/variants, variant folders or .tflite files, and the
    default output directory (OUT of the first variant; ``./out`` for bare .tflite files).
    The same (name, model) given twice is measured once."""
    from edgekit.variant import MANIFEST_FILE, load_variants

    targets: list[Target] = []
    out_dir: Path | None = None
    for item in items:
        is_variant = _is_variant(item)
        if is_variant:
            variants, p = [item], Path(item.dir)
        else:
            p = Path(item)
            if p.is_file():
                if p.suffix != ".tflite":
                    raise EdgekitError(f"{p} is not a .tflite file", "pass OUT, OUT/variants, a variant folder or .tflite files")
                targets.append(Target.from_file(p))
                out_dir = out_dir or Path("out")
                continue
            variants = load_variants(p)
        for v in variants:
            if not v.path.is_file():
                raise EdgekitError(f"variant {v.name} has no {v.path.name} in {v.dir}", "re-run `edgekit optimize`")
            targets.append(Target.from_variant(v))
        if out_dir is None:
            if is_variant or (p / MANIFEST_FILE).exists():
                out_dir = p.parent.parent                  # OUT/variants/<name>
            elif (p / "variants").is_dir():
                out_dir = p
            else:
                out_dir = p.parent
    seen: set[tuple[str, str]] = set()
    uniq = []
    for t in targets:
        if (t.name, t.sha256) not in seen:
            seen.add((t.name, t.sha256))
            uniq.append(t)
    if not uniq:
        raise EdgekitError("nothing to benchmark: no variants or .tflite files given",
                           "pass OUT, OUT/variants, a variant folder or .tflite files")
    return uniq, (out_dir or Path("out"))
