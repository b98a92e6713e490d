"""The evaluation set of ``--accuracy device``: found in OUT or given, cached as one .npy to push."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgekit.digest import sha256_bytes, sha256_file
from edgekit.errors import EdgekitError

EVAL_CANDIDATES = ("eval.npz", "data/eval.npz", "eval/eval.npz", "eval_set.npz", "data/test.npz")
_X_KEYS = ("x_eval", "x_test", "x")
_Y_KEYS = ("y_eval", "y_test", "y")


@dataclass(frozen=True, eq=False)
class EvalSet:
    x_path: Path          # .npy on the host, pushed as is
    y: Any                # numpy labels (n,) or one-hot (n, C)
    sha256: str           # of x_path
    n: int


def find_eval_data(out_dir: Path, targets: Sequence[Any] = ()) -> Path | str | None:
    """An evaluation set for ``--accuracy device`` when none is given.

    A file/folder in OUT (EVAL_CANDIDATES, or OUT/eval/x.npy + y.npy), else the built-in data set
    when the variants' manifests say they were made from it (``data: fashion-mnist``).
    """
    for rel in EVAL_CANDIDATES:
        p = out_dir / rel
        if p.is_file():
            return p
    d = out_dir / "eval"
    if (d / "x.npy").is_file() and (d / "y.npy").is_file():
        return d
    names = {getattr(t, "data", None) for t in targets}
    if "fashion-mnist" in names:
        return "fashion-mnist"
    return None


def load_eval_set(path: Path | str, cache_dir: Path, limit: int | None = None, input_range: Any = None) -> EvalSet:
    """.npz (x_eval/x_test/x + y_eval/y_test/y) or a folder with x.npy + y.npy -> EvalSet.

    The inputs (first ``limit`` examples) are written to ``cache_dir/eval-<sha>.npy`` for pushing.
    A name such as ``fashion-mnist`` or an image folder is loaded with :func:`edgekit.optimize.data.load_data`
    (its ``x_test``/``y_test``, the examples the host evaluation uses).

    ``input_range`` (an :class:`edgekit.optimize.data.normalize.InputRange` or a manifest's dict): the
    variants' input normalisation, applied here on the host so the device gets the model's inputs; the
    images are first scaled to [0, 1] as ``edgekit optimize`` does (0..255 integers or floats).
    """
    import numpy as np

    if isinstance(path, str) and not Path(path).exists():
        from edgekit.optimize.data import load_data  # built-in data set by name (same x_test as host evaluation)

        ds = load_data(path)
        return _eval_from_arrays(ds.x_test, ds.y_test, cache_dir, limit, input_range)
    path = Path(path)
    try:
        if path.is_dir() and not (path / "x.npy").is_file():
            from edgekit.optimize.data import load_data  # an image folder, as `edgekit optimize --data` takes it

            ds = load_data(path)
            return _eval_from_arrays(ds.x_test, ds.y_test, cache_dir, limit, input_range)
        if path.is_dir():
            x = np.load(path / "x.npy", allow_pickle=False)
            y = np.load(path / "y.npy", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                xk = next((k for k in _X_KEYS if k in z.files), None)
                yk = next((k for k in _Y_KEYS if k in z.files), None)
                if xk is None or yk is None:
                    raise EdgekitError(f"{path} has arrays {z.files}; expected x_test/y_test (or x/y, x_eval/y_eval)")
                x, y = z[xk], z[yk]
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"cannot read the evaluation set {path}: {exc}", "give --eval-data a .npz with x_test/y_test or a folder with x.npy and y.npy")
    if len(x) != len(y):
        raise EdgekitError(f"evaluation set {path}: {len(x)} inputs but {len(y)} labels")
    return _eval_from_arrays(x, y, cache_dir, limit, input_range, raw=True)


def _mapped(x: Any, input_range: Any, raw: bool) -> Any:
    """``x`` as the model's inputs under ``input_range`` (unchanged when none or 0-1)."""
    from edgekit.optimize.data.normalize import InputRange

    r = InputRange.from_dict(input_range) if isinstance(input_range, dict) or input_range is None else input_range
    if raw and (not r.identity or getattr(x, "ndim", 0) == 3 or getattr(x, "dtype", None) is not None and x.dtype.kind in "iu"):
        # user pixels (0..255 integers, (N, H, W) grey images, or anything to be mapped): to [0, 1] NHWC
        # as `edgekit optimize --data` does; float (N, H, W, C) arrays of a 0-1 model are pushed as given
        from edgekit.optimize.data.dataset import to_images

        x = to_images(x, "x_test", "the evaluation set")
    return x if r.identity else r.apply(x)


def _eval_from_arrays(x: Any, y: Any, cache_dir: Path, limit: int | None, input_range: Any = None,
                      raw: bool = False) -> EvalSet:
    import numpy as np

    from edgekit.atomic import atomic_path

    if limit is not None:
        x, y = x[:limit], y[:limit]
    x = _mapped(x, input_range, raw)
    x = np.ascontiguousarray(x)
    digest = sha256_bytes(str((x.dtype.str, x.shape)).encode() + x.tobytes())
    cache_dir.mkdir(parents=True, exist_ok=True)
    xp = cache_dir / f"eval-{digest[:16]}.npy"
    if not xp.exists():
        with atomic_path(xp) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x, allow_pickle=False)
    return EvalSet(x_path=xp, y=y, sha256=sha256_file(xp), n=int(len(x)))


def resolve_eval_set(params: Any, out_dir: Path, targets: Sequence[Any]) -> EvalSet | None:
    """The evaluation set the parameters ask for (None unless ``accuracy == "device"``)."""
    if params.accuracy != "device":
        return None
    src = params.eval_data or find_eval_data(out_dir, targets)
    if src is None:
        raise EdgekitError(f"--accuracy device needs an evaluation set and none was found in {out_dir}",
                           "pass --eval-data: fashion-mnist, a .npz with x_test/y_test, an image folder, or a folder with x.npy + y.npy")
    return load_eval_set(src, out_dir / ".bench-cache", params.eval_limit, _common_range(targets))


def _common_range(targets: Sequence[Any]) -> dict | None:
    """The one input range of every target (manifest ``input_range``; None when all take 0-1 pixels)."""
    from edgekit.optimize.data.normalize import InputRange

    ranges = {}
    for t in targets:
        r = InputRange.from_dict(getattr(t, "input_range", None))
        if not r.identity:
            ranges.setdefault((r.mean, r.std), (r, []))[1].append(t.name)
    plain = [t.name for t in targets if InputRange.from_dict(getattr(t, "input_range", None)).identity]
    if not ranges:
        return None
    if len(ranges) > 1 or plain:
        parts = [f"{r.spec}: {', '.join(names[:3])}" for r, names in ranges.values()]
        if plain:
            parts.append(f"0-1: {', '.join(plain[:3])}")
        raise EdgekitError(f"--accuracy device: the variants take different input ranges ({'; '.join(parts)})",
                           "bench variants of one input range per run (one evaluation set is pushed per run)")
    return next(iter(ranges.values()))[0].to_dict()
