"""The built-in data set: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` IDX files (no download)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.optimize.data.dataset import Dataset, build

FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
NAMES = ("fashion-mnist", "fashion_mnist", "fashionmnist")
_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
_HINT = "install dataset-fashion-mnist (apt) or run make demo"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (optionally gzipped) as a uint8 array of its declared shape."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise EdgekitError(f"cannot read {path}: {exc}", "reinstall dataset-fashion-mnist (apt)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise EdgekitError(f"{path} is not an IDX file of unsigned bytes", "reinstall dataset-fashion-mnist (apt)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    need = int(np.prod(dims, dtype=np.int64))
    if len(raw) < header + need:
        raise EdgekitError(f"{path} is truncated ({len(raw)} bytes, expected {header + need})", "reinstall dataset-fashion-mnist (apt)")
    return np.frombuffer(raw, dtype=np.uint8, count=need, offset=header).reshape(dims)


def _file(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise EdgekitError(f"Fashion-MNIST not found: no {stem}.gz in {root}", _HINT)


def load_fashion_mnist(root: str | os.PathLike = FASHION_MNIST_ROOT, limit_train: int | None = None,
                       limit_test: int | None = None) -> Dataset:
    """Fashion-MNIST from its IDX files: 60000 train + 10000 test 28x28x1 images, 10 classes.

    ``limit_train``/``limit_test`` keep the first N examples of each split (for quick runs).
    """
    root = Path(root)
    if not root.is_dir():
        raise EdgekitError(f"Fashion-MNIST not found: {root} does not exist", _HINT)
    arrays = {key: read_idx(_file(root, stem)) for key, stem in _FILES.items()}
    if limit_train is not None:
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
    if limit_test is not None:
        arrays["x_test"], arrays["y_test"] = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
    return build("fashion-mnist", str(root), class_names=FASHION_MNIST_CLASSES, **arrays)
