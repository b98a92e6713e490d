"""Training/evaluation data: the built-in Fashion-MNIST, arrays, ``.npz`` files and image folders.

Every loader returns a :class:`Dataset` whose images are float32 NHWC scaled to [0, 1] and whose
labels are int64 class ids 0..num_classes-1, or raises a one-line :class:`EdgekitError` naming the
problem and the fix. No TensorFlow here (numpy, and Pillow for image folders).

Modules: ``dataset`` (the record and the shared validation), ``fashion_mnist`` (the IDX reader),
``npz``, ``images`` (image folders and unlabelled images). Public API, importable from here::

    Dataset(x_train, y_train, x_test, y_test, num_classes, class_names, name, x_unlabelled=None)
        .input_shape -> (H, W, C)
        .fingerprint() -> str           sha256 hex over arrays, class names and name
        .check_model_input(shape)       shape like (None, 28, 28, 1) or [1, 28, 28, 1]
    load_fashion_mnist(root=..., limit_train=None, limit_test=None) -> Dataset
    load_npz(path) -> Dataset
    load_image_folder(path, image_size=None, test_fraction=0.2, seed=0) -> Dataset
    load_unlabelled(path, image_size=None, channels=None) -> np.ndarray (N, H, W, C) float32
    from_arrays(x_train, y_train, x_test, y_test, class_names=None, name="arrays", x_unlabelled=None) -> Dataset
    load_data(spec=None, unlabelled=None, image_size=None) -> Dataset
    normalized(dataset, input_range) -> Dataset      # pixels mapped to the model's inputs (``normalize``)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.optimize.data.dataset import ARRAY_KEYS, Dataset, build, match_unlabelled, to_images
from edgekit.optimize.data.fashion_mnist import (FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, NAMES as _FASHION_NAMES,
                                                 load_fashion_mnist, read_idx)
from edgekit.optimize.data.images import DEFAULT_IMAGE_SIZE, IMAGE_EXTENSIONS, load_image_folder, load_unlabelled
from edgekit.optimize.data.normalize import InputRange, parse_input_range
from edgekit.optimize.data.npz import NPZ_KEYS, load_npz

__all__ = [
    "ARRAY_KEYS", "DEFAULT_IMAGE_SIZE", "Dataset", "FASHION_MNIST_CLASSES", "FASHION_MNIST_ROOT", "IMAGE_EXTENSIONS",
    "InputRange", "NPZ_KEYS", "from_arrays", "normalized", "parse_input_range", "load_data", "load_fashion_mnist", "load_image_folder", "load_npz", "load_unlabelled",
    "parse_size", "read_idx",
]

_DATA_HINT = ("pass 'fashion-mnist', an .npz file (x_train, y_train, x_test, y_test), an image folder, a Dataset "
              "or arrays (x_train, y_train, x_test, y_test)")


def from_arrays(x_train, y_train, x_test, y_test, class_names: Sequence[str] | None = None, name: str = "arrays",
                x_unlabelled=None) -> Dataset:
    """A validated Dataset from in-memory arrays (same rules as an .npz file)."""
    ds = build(name, "data arrays", x_train, y_train, x_test, y_test, class_names=class_names)
    if x_unlabelled is not None:
        ds.x_unlabelled = match_unlabelled(to_images(x_unlabelled, "x_unlabelled", "data arrays"), ds, "data arrays")
    return ds


def _from_mapping(data: Mapping[str, Any]) -> Dataset:
    missing = [k for k in ARRAY_KEYS if k not in data]
    unknown = sorted(set(data) - {*ARRAY_KEYS, "class_names", "x_unlabelled", "name"})
    if missing or unknown:
        what = f"is missing {', '.join(missing)}" if missing else f"has unknown keys {', '.join(map(str, unknown))}"
        raise EdgekitError(f"the data dict {what}", "give x_train, y_train, x_test, y_test (optional class_names, "
                                                    "x_unlabelled, name)")
    return from_arrays(*(data[k] for k in ARRAY_KEYS), class_names=data.get("class_names"),
                       name=str(data.get("name") or "arrays"), x_unlabelled=data.get("x_unlabelled"))


def parse_size(image_size) -> tuple[int, int] | None:
    """None, an int, (H, W) or "HxW" / "H" -> (H, W) or None."""
    if image_size is None or isinstance(image_size, (tuple, list)):
        return None if image_size is None else (int(image_size[0]), int(image_size[1]))
    if isinstance(image_size, int):
        return (image_size, image_size)
    text = str(image_size).lower().replace(" ", "")
    try:
        parts = [int(t) for t in text.split("x")]
    except ValueError:
        raise EdgekitError(f"image size {image_size!r} is not HxW", "e.g. 96x96") from None
    if len(parts) == 1:
        return (parts[0], parts[0])
    if len(parts) != 2:
        raise EdgekitError(f"image size {image_size!r} is not HxW", "e.g. 96x96")
    return (parts[0], parts[1])


def load_data(spec: str | os.PathLike | Dataset | tuple | list | Mapping | None = None,
              unlabelled: str | os.PathLike | np.ndarray | None = None,
              image_size: tuple[int, int] | int | str | None = None) -> Dataset:
    """Load ``spec``: None or "fashion-mnist" (built-in), a ``.npz`` file, an image folder, a
    :class:`Dataset` (used as it is), or arrays ``(x_train, y_train, x_test, y_test)`` as a tuple/list or
    a dict (optional ``class_names``, ``x_unlabelled``, ``name``).

    ``unlabelled`` (folder, .npy/.npz or an array) is loaded at the data's image size and channels into
    ``x_unlabelled``. ``image_size`` (H, W), int or "HxW" applies to image folders.
    """
    size = parse_size(image_size)
    if isinstance(spec, Dataset):
        ds = dataclasses.replace(spec) if unlabelled is not None else spec   # never change the caller's record
    elif isinstance(spec, Mapping):
        ds = _from_mapping(spec)
    elif isinstance(spec, (tuple, list)):
        if len(spec) != 4:
            raise EdgekitError(f"data arrays: got {len(spec)} items, expected 4 (x_train, y_train, x_test, y_test)",
                               _DATA_HINT)
        ds = from_arrays(*spec)
    elif spec is None or str(spec).lower() in _FASHION_NAMES:
        ds = load_fashion_mnist()
    elif not isinstance(spec, (str, os.PathLike)):
        raise EdgekitError(f"data of type {type(spec).__name__} is not understood", _DATA_HINT)
    else:
        p = Path(spec)
        if p.is_dir():
            ds = load_image_folder(p, image_size=size)
        elif p.suffix.lower() == ".npz" or p.is_file():
            ds = load_npz(p)
        else:
            raise EdgekitError(f"data {str(spec)!r} not found", _DATA_HINT)
    if unlabelled is not None:
        if isinstance(unlabelled, np.ndarray):
            ds.x_unlabelled = match_unlabelled(to_images(unlabelled, "unlabelled images", "unlabelled array"), ds,
                                               "unlabelled array")
        else:
            ds.x_unlabelled = load_unlabelled(unlabelled, image_size=ds.input_shape[:2], channels=ds.input_shape[2])
    return ds


def normalized(ds: Dataset, input_range: InputRange) -> Dataset:
    """A copy of ``ds`` whose images are the model's inputs under ``input_range`` (``ds`` itself when 0-1).

    The copy's images are no longer in [0, 1]; its fingerprint differs, so variants made with another
    range are rebuilt.
    """
    if input_range.identity:
        return ds
    input_range.check_channels(ds.input_shape[2])
    return dataclasses.replace(ds, x_train=input_range.apply(ds.x_train), x_test=input_range.apply(ds.x_test),
                               x_unlabelled=input_range.apply(ds.x_unlabelled))
