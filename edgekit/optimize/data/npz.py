"""Data from a ``.npz`` file (x_train, y_train, x_test, y_test; optional class_names, x_unlabelled)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.optimize.data.dataset import ARRAY_KEYS, Dataset, build, match_unlabelled, to_images

NPZ_KEYS = ARRAY_KEYS
_SAVE_HINT = "save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"


def load_npz(path: str | os.PathLike) -> Dataset:
    """A .npz with x_train, y_train, x_test, y_test (optional class_names, x_unlabelled)."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"{path} does not exist" if not path.exists() else f"{path} is not a file",
                           "pass an .npz with x_train, y_train, x_test, y_test")
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):
            raise EdgekitError(f"{path} holds a single array, not an .npz archive", _SAVE_HINT)
        with npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise EdgekitError(f"{path} is missing {', '.join(missing)} (has: {', '.join(npz.files) or 'nothing'})",
                                   _SAVE_HINT)
            arrays = {k: npz[k] for k in NPZ_KEYS}
            class_names = [str(c) for c in npz["class_names"].tolist()] if "class_names" in npz.files else None
            unlabelled = npz["x_unlabelled"] if "x_unlabelled" in npz.files else None
    except EdgekitError:
        raise
    except ValueError as exc:
        raise EdgekitError(f"cannot read {path}: {exc}", "save plain numeric arrays with np.savez (no pickled objects)") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise EdgekitError(f"cannot read {path}: not a valid .npz ({exc})", "re-save it with np.savez") from None
    ds = build(path.stem, str(path), class_names=class_names, **arrays)
    if unlabelled is not None:
        ds.x_unlabelled = match_unlabelled(to_images(unlabelled, "x_unlabelled", str(path)), ds, str(path))
    return ds
