"""The Dataset record and the validation every loader shares (images to float32 NHWC in [0, 1], labels
to int64 class ids). No TensorFlow here.

Pixel scaling: integer images must lie in 0..255 and are divided by 255. Float images already in
[0, 1] are kept; float images in [0, 255] with a maximum above 1 are divided by 255 (0-255 data
saved as float); anything else (negative, > 255, NaN/inf) is rejected — edgekit's models expect
[0, 1] inputs and the int8 variants are calibrated on that range.

Labels: integer class ids (shape (N,) or (N, 1)); float labels are accepted when they are whole
numbers. One-hot labels are rejected with a hint (``np.argmax(y, axis=1)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from edgekit.digest import sha256_bytes, sha256_json
from edgekit.errors import EdgekitError

ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass
class Dataset:
    """Images (float32 NHWC in [0, 1]) and int64 labels, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: list[str]
    name: str
    x_unlabelled: np.ndarray | None = field(default=None)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    def fingerprint(self) -> str:
        """sha256 (hex) over the name, class names and every array's dtype, shape and bytes.

        Stable across processes and runs; changes when any pixel, label or name changes.
        """
        arrays = {}
        for key in (*ARRAY_KEYS, "x_unlabelled"):
            arr = getattr(self, key)
            arrays[key] = None if arr is None else array_digest(arr)
        return sha256_json({"schema": "edgekit.dataset/2", "name": self.name, "classes": list(self.class_names),
                            "num_classes": int(self.num_classes), "arrays": arrays})

    def check_model_input(self, shape: Sequence[int | None]) -> None:
        """Raise EdgekitError unless images of ``input_shape`` fit a model input ``shape``.

        ``shape`` includes the batch dimension, e.g. Keras ``(None, 28, 28, 1)`` or TFLite
        ``[1, 28, 28, 1]``; None or -1 dimensions match anything.
        """
        dims = list(shape)
        if dims and isinstance(dims[0], (list, tuple)):
            raise EdgekitError(f"the model has {len(dims)} inputs; edgekit handles single-input image models")
        dims = dims[1:]
        mine = self.input_shape
        fits = len(dims) == len(mine) and all(d is None or int(d) < 0 or int(d) == m for d, m in zip(dims, mine))
        if not fits:
            want = "x".join("?" if d is None or int(d) < 0 else str(int(d)) for d in dims) or "a scalar"
            raise EdgekitError(
                f"the data ({self.name}) has images of shape {hwc(mine)} but the model expects {want}",
                f"pass data whose images are {want} (--data), or a model built for {hwc(mine)} inputs",
            )

    def __repr__(self) -> str:  # arrays are big: keep the repr short
        extra = f", unlabelled={len(self.x_unlabelled)}" if self.x_unlabelled is not None else ""
        return (f"Dataset({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
                f"shape={self.input_shape}, classes={self.num_classes}{extra})")


def array_digest(arr: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order)."""
    arr = np.ascontiguousarray(arr)
    return sha256_json([arr.dtype.str, list(arr.shape), sha256_bytes(memoryview(arr).cast("B") if arr.size else b"")])


def hwc(shape: Iterable[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def to_images(x: np.ndarray, what: str, source: str) -> np.ndarray:
    """Validate and convert images to float32 NHWC in [0, 1]."""
    x = np.asarray(x)
    if x.dtype == bool or x.dtype.kind not in "fiu":
        raise EdgekitError(f"{source}: {what} has dtype {x.dtype}, not numbers", "store images as uint8 (0-255) or float (0-1)")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    elif x.ndim != 4:
        raise EdgekitError(
            f"{source}: {what} has shape {x.shape}; expected images (N, H, W) or (N, H, W, C)",
            "reshape flat vectors to (N, H, W, C)",
        )
    if len(x) == 0:
        raise EdgekitError(f"{source}: {what} is empty (0 images)", "provide at least one example in each split")
    n, h, w, c = x.shape
    if min(h, w, c) == 0:
        raise EdgekitError(f"{source}: {what} has shape {x.shape} with a zero-sized dimension")
    if c not in (1, 2, 3, 4):
        if h in (1, 3, 4) and c > 4:
            raise EdgekitError(
                f"{source}: {what} has shape {x.shape}, which looks channels-first (N, C, H, W)",
                "transpose to channels-last: np.transpose(x, (0, 2, 3, 1))",
            )
        raise EdgekitError(f"{source}: {what} has {c} channels (shape {x.shape}); expected 1-4 (NHWC)")
    if x.dtype.kind in "iu":
        lo, hi = (int(x.min()), int(x.max()))
        if lo < 0 or hi > 255:
            raise EdgekitError(f"{source}: {what} has integer pixel values {lo}..{hi}; expected 0..255", "store 8-bit images (uint8)")
        return (x.astype(np.float32) / np.float32(255.0))
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise EdgekitError(f"{source}: {what} contains NaN or infinite values", "clean the data")
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return x
    if lo >= 0.0 and hi <= 255.0:
        return x / np.float32(255.0)
    raise EdgekitError(
        f"{source}: {what} has values {lo:g}..{hi:g}; expected pixels in 0..1 or 0..255",
        "undo any normalisation (edgekit scales to 0..1 itself)",
    )


def to_labels(y: np.ndarray, what: str, source: str) -> np.ndarray:
    """Validate class ids: (N,) or (N, 1) integers (or whole floats) >= 0 -> int64 (N,)."""
    y = np.asarray(y)
    if y.dtype == bool or y.dtype.kind not in "fiu":
        raise EdgekitError(f"{source}: {what} has dtype {y.dtype}, not numbers", "store integer class ids 0..K-1")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.shape[1] > 1:
        raise EdgekitError(f"{source}: {what} has shape {y.shape} (one-hot?); expected class ids of shape (N,)",
                           "convert with np.argmax(y, axis=1)")
    elif y.ndim != 1:
        raise EdgekitError(f"{source}: {what} has shape {y.shape}; expected class ids of shape (N,)")
    if len(y) == 0:
        raise EdgekitError(f"{source}: {what} is empty (0 labels)", "provide at least one example in each split")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            bad = y[~(np.isfinite(y) & (y == np.round(y)))][0]
            raise EdgekitError(f"{source}: {what} has non-integer label {bad!r}", "labels must be class ids 0..K-1")
    if y.min() < 0:
        raise EdgekitError(f"{source}: {what} has negative label {int(y.min())}", "labels must be class ids 0..K-1")
    return y.astype(np.int64)


def build(name: str, source: str, x_train, y_train, x_test, y_test, class_names: Sequence[str] | None = None) -> Dataset:
    """A validated Dataset from raw arrays (``source`` names them in error messages)."""
    xtr = to_images(x_train, "x_train", source)
    xte = to_images(x_test, "x_test", source)
    ytr = to_labels(y_train, "y_train", source)
    yte = to_labels(y_test, "y_test", source)
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "test")):
        if len(x) != len(y):
            raise EdgekitError(f"{source}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels",
                               "give every image exactly one label")
    if xtr.shape[1:] != xte.shape[1:]:
        raise EdgekitError(f"{source}: train images are {hwc(xtr.shape[1:])} but test images are {hwc(xte.shape[1:])}",
                           "use the same image size and channels in both splits")
    if class_names is not None:
        names = [str(c) for c in class_names]
        k = len(names)
        for y, split in ((ytr, "y_train"), (yte, "y_test")):
            if int(y.max()) >= k:
                raise EdgekitError(f"{source}: {split} has label {int(y.max())} but there are only {k} class names",
                                   f"labels must be 0..{k - 1}")
    else:
        k = int(ytr.max()) + 1
        if int(yte.max()) >= k:
            raise EdgekitError(f"{source}: y_test has label {int(yte.max())}, which never occurs in y_train (labels 0..{k - 1})",
                               "every test class must appear in the training set")
        names = [str(i) for i in range(k)]
    if k < 2:
        raise EdgekitError(f"{source}: only {k} class; a classifier needs at least 2", "check the labels")
    return Dataset(xtr, ytr, xte, yte, k, names, name)


def match_unlabelled(x: np.ndarray, ds: Dataset, source: str) -> np.ndarray:
    """``x`` (already validated images) when its image shape equals the data's, else a one-line error."""
    if x.shape[1:] != ds.x_train.shape[1:]:
        raise EdgekitError(f"{source}: unlabelled images are {hwc(x.shape[1:])} but the data's images are {hwc(ds.input_shape)}",
                           "use the same size and channels")
    return x
