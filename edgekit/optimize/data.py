"""Training/evaluation data: the built-in Fashion-MNIST, user .npz files and image folders.

Every loader returns a :class:`Dataset` whose images are float32 NHWC scaled to [0, 1] and whose
labels are int64 class ids 0..num_classes-1, or raises a one-line :class:`EdgekitError` naming
the problem and the fix. No TensorFlow here (numpy, and Pillow for image folders).

Public API::

    Dataset(x_train, y_train, x_test, y_test, num_classes, class_names, name, x_unlabelled=None)
        .input_shape -> (H, W, C)
        .fingerprint() -> str           sha256 hex over arrays, class names and name
        .check_model_input(shape)       shape like (None, 28, 28, 1) or [1, 28, 28, 1]
    load_fashion_mnist(root=..., limit_train=None, limit_test=None) -> Dataset
    load_npz(path) -> Dataset
    load_image_folder(path, image_size=None, test_fraction=0.2, seed=0) -> Dataset
    load_unlabelled(path, image_size=None, channels=None) -> np.ndarray (N, H, W, C) float32
    load_data(spec=None, unlabelled=None, image_size=None) -> Dataset

Pixel scaling: integer images must lie in 0..255 and are divided by 255. Float images already in
[0, 1] are kept; float images in [0, 255] with a maximum above 1 are divided by 255 (0-255 data
saved as float); anything else (negative, > 255, NaN/inf) is rejected — edgekit's models expect
[0, 1] inputs and the int8 variants are calibrated on that range.

Labels: integer class ids (shape (N,) or (N, 1)); float labels are accepted when they are whole
numbers. One-hot labels are rejected with a hint (``np.argmax(y, axis=1)``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from edgekit.errors import EdgekitError

FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
_FASHION_HINT = "install dataset-fashion-mnist (apt) or run make demo"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_IMAGE_SIZE = (96, 96)  # for folders of mixed-size images when no image_size is given
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


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
        h = hashlib.sha256()
        h.update(b"edgekit.dataset/1\0")
        h.update(self.name.encode() + b"\0")
        h.update("\0".join(self.class_names).encode() + b"\0")
        h.update(str(int(self.num_classes)).encode() + b"\0")
        for key in ("x_train", "y_train", "x_test", "y_test", "x_unlabelled"):
            arr = getattr(self, key)
            h.update(key.encode() + b"\0")
            if arr is None:
                h.update(b"none\0")
                continue
            arr = np.ascontiguousarray(arr)
            h.update(f"{arr.dtype.str}{arr.shape}".encode() + b"\0")
            h.update(memoryview(arr).cast("B"))
        return h.hexdigest()

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
                f"the data ({self.name}) has images of shape {_hwc(mine)} but the model expects {want}",
                f"pass data whose images are {want} (--data), or a model built for {_hwc(mine)} inputs",
            )

    def __repr__(self) -> str:  # arrays are big: keep the repr short
        extra = f", unlabelled={len(self.x_unlabelled)}" if self.x_unlabelled is not None else ""
        return (f"Dataset({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
                f"shape={self.input_shape}, classes={self.num_classes}{extra})")


def _hwc(shape: Iterable[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


# ----------------------------------------------------------------------------------------------
# Validation shared by the loaders


def _images(x: np.ndarray, what: str, source: str) -> np.ndarray:
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


def _labels(y: np.ndarray, what: str, source: str) -> np.ndarray:
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


def _build(name: str, source: str, x_train, y_train, x_test, y_test, class_names: Sequence[str] | None = None) -> Dataset:
    xtr = _images(x_train, "x_train", source)
    xte = _images(x_test, "x_test", source)
    ytr = _labels(y_train, "y_train", source)
    yte = _labels(y_test, "y_test", source)
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "test")):
        if len(x) != len(y):
            raise EdgekitError(f"{source}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels",
                               "give every image exactly one label")
    if xtr.shape[1:] != xte.shape[1:]:
        raise EdgekitError(f"{source}: train images are {_hwc(xtr.shape[1:])} but test images are {_hwc(xte.shape[1:])}",
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


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)


def _read_idx(path: Path) -> np.ndarray:
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


def _fashion_file(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise EdgekitError(f"Fashion-MNIST not found: no {stem}.gz in {root}", _FASHION_HINT)


def load_fashion_mnist(root: str | os.PathLike = FASHION_MNIST_ROOT, limit_train: int | None = None,
                       limit_test: int | None = None) -> Dataset:
    """Fashion-MNIST from its IDX files: 60000 train + 10000 test 28x28x1 images, 10 classes.

    ``limit_train``/``limit_test`` keep the first N examples of each split (for quick runs).
    """
    root = Path(root)
    if not root.is_dir():
        raise EdgekitError(f"Fashion-MNIST not found: {root} does not exist", _FASHION_HINT)
    arrays = {key: _read_idx(_fashion_file(root, stem)) for key, stem in _FASHION_FILES.items()}
    if limit_train is not None:
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][:limit_train], arrays["y_train"][:limit_train]
    if limit_test is not None:
        arrays["x_test"], arrays["y_test"] = arrays["x_test"][:limit_test], arrays["y_test"][:limit_test]
    return _build("fashion-mnist", str(root), class_names=FASHION_MNIST_CLASSES, **arrays)


# ----------------------------------------------------------------------------------------------
# .npz


def load_npz(path: str | os.PathLike) -> Dataset:
    """A .npz with x_train, y_train, x_test, y_test (optional class_names, x_unlabelled)."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"{path} does not exist" if not path.exists() else f"{path} is not a file",
                           "pass an .npz with x_train, y_train, x_test, y_test")
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):
            raise EdgekitError(f"{path} holds a single array, not an .npz archive",
                               "save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
        with npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise EdgekitError(f"{path} is missing {', '.join(missing)} (has: {', '.join(npz.files) or 'nothing'})",
                                   "save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
            arrays = {k: npz[k] for k in NPZ_KEYS}
            class_names = [str(c) for c in npz["class_names"].tolist()] if "class_names" in npz.files else None
            unlabelled = npz["x_unlabelled"] if "x_unlabelled" in npz.files else None
    except EdgekitError:
        raise
    except ValueError as exc:
        raise EdgekitError(f"cannot read {path}: {exc}", "save plain numeric arrays with np.savez (no pickled objects)") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise EdgekitError(f"cannot read {path}: not a valid .npz ({exc})", "re-save it with np.savez") from None
    ds = _build(path.stem, str(path), class_names=class_names, **arrays)
    if unlabelled is not None:
        ds.x_unlabelled = _match_unlabelled(_images(unlabelled, "x_unlabelled", str(path)), ds, str(path))
    return ds


# ----------------------------------------------------------------------------------------------
# Image folders (one sub-folder per class)


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a declared dependency
        raise EdgekitError("reading image folders needs Pillow", "pip install pillow") from None
    return Image


def _image_files(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def _read_images(files: Sequence[Path], size: tuple[int, int], gray: bool) -> np.ndarray:
    Image = _pil()
    h, w = size
    out = np.empty((len(files), h, w, 1 if gray else 3), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("L" if gray else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as exc:
            raise EdgekitError(f"cannot read image {f}: {exc}", "remove or replace the file") from None
        out[i] = a.reshape(h, w, -1)
    return out


def _probe(files: Sequence[Path]) -> tuple[set[tuple[int, int]], bool]:
    """(set of (H, W) sizes, all grayscale?) read from the image headers only."""
    Image = _pil()
    sizes: set[tuple[int, int]] = set()
    gray = True
    for f in files:
        try:
            with Image.open(f) as im:
                sizes.add((im.size[1], im.size[0]))
                gray = gray and im.mode in _GRAY_MODES
        except (OSError, ValueError, SyntaxError) as exc:
            raise EdgekitError(f"cannot read image {f}: {exc}", "remove or replace the file") from None
    return sizes, gray


def _size(image_size, sizes: set[tuple[int, int]], source: str) -> tuple[int, int]:
    if image_size is not None:
        try:
            h, w = (int(image_size), int(image_size)) if np.isscalar(image_size) else (int(image_size[0]), int(image_size[1]))
        except (TypeError, ValueError, IndexError):
            raise EdgekitError(f"image_size {image_size!r} is not (height, width)") from None
        if h <= 0 or w <= 0:
            raise EdgekitError(f"image_size {image_size!r} must be positive")
        return h, w
    if len(sizes) == 1:
        return next(iter(sizes))
    return DEFAULT_IMAGE_SIZE  # mixed sizes (e.g. the flowers photos) and no size given


def load_image_folder(path: str | os.PathLike, image_size: tuple[int, int] | int | None = None,
                      test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Images in ``path/<class name>/*.png|jpg|...`` (the classic flowers layout).

    Classes are the sub-folders in sorted order (files at the top level, e.g. LICENSE.txt, are
    ignored). Images are resized to ``image_size`` (H, W) — default: their common size, or
    DEFAULT_IMAGE_SIZE (96x96) when the sizes differ (bilinear, aspect ratio not kept) — and read
    as grayscale when every image is grayscale, else RGB (alpha dropped). The split is stratified and
    deterministic: per class, the sorted files are shuffled with ``seed`` and round(n * test_fraction)
    of them (at least 1 when the class has ≥ 2 images) go to the test set.
    """
    root = Path(path)
    if not root.is_dir():
        raise EdgekitError(f"{root} is not a folder" if root.exists() else f"{root} does not exist",
                           "pass a folder with one sub-folder of images per class")
    if not 0.0 < float(test_fraction) < 1.0:
        raise EdgekitError(f"test_fraction {test_fraction} must be between 0 and 1 (exclusive)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise EdgekitError(f"{root} has no class sub-folders", "put each class's images in its own sub-folder: ROOT/<class>/*.png")
    files_per_class = []
    for d in class_dirs:
        files = _image_files(d)
        if not files:
            raise EdgekitError(f"{root}: class folder {d.name!r} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})",
                               "add images or remove the folder")
        files_per_class.append(files)
    if len(class_dirs) < 2:
        raise EdgekitError(f"{root} has only one class folder ({class_dirs[0].name!r}); a classifier needs at least 2")
    all_files = [f for fs in files_per_class for f in fs]
    sizes, gray = _probe(all_files)
    size = _size(image_size, sizes, str(root))

    rng = np.random.default_rng(seed)
    train_files, train_y, test_files, test_y = [], [], [], []
    for label, files in enumerate(files_per_class):
        order = rng.permutation(len(files))
        n_test = int(round(len(files) * test_fraction))
        if len(files) >= 2:
            n_test = min(max(n_test, 1), len(files) - 1)
        else:
            n_test = 0
        for rank, idx in enumerate(order):
            (test_files if rank < n_test else train_files).append(files[idx])
            (test_y if rank < n_test else train_y).append(label)
    if not test_files:
        raise EdgekitError(f"{root}: the test split is empty (every class has a single image)",
                           "add at least 2 images per class")
    x_train = _read_images(train_files, size, gray)
    x_test = _read_images(test_files, size, gray)
    return _build(root.name, str(root), x_train, np.array(train_y), x_test, np.array(test_y),
                  class_names=[d.name for d in class_dirs])


# ----------------------------------------------------------------------------------------------
# Unlabelled images (distillation where the teacher provides the labels)


def load_unlabelled(path: str | os.PathLike, image_size: tuple[int, int] | int | None = None,
                    channels: int | None = None) -> np.ndarray:
    """Unlabelled images as float32 (N, H, W, C) in [0, 1].

    ``path`` is a folder of images (searched recursively, sorted; resized to ``image_size``, read
    as grayscale when ``channels`` is 1 or every image is grayscale) or a ``.npy`` array (N, H, W)
    / (N, H, W, C) of uint8 0-255 or float 0-1, or an ``.npz`` with ``x_unlabelled`` (or a single
    array). ``image_size``/``channels``, when given, must match (arrays are not resized).
    """
    p = Path(path)
    if p.is_dir():
        files = _image_files(p, recursive=True)
        if not files:
            raise EdgekitError(f"{p} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})", "point --unlabelled at a folder of images or an .npy")
        sizes, gray = _probe(files)
        size = _size(image_size, sizes, str(p))
        if channels is not None:
            if channels not in (1, 3):
                raise EdgekitError(f"cannot read images as {channels} channels (only 1 or 3)")
            gray = channels == 1
        return _images(_read_images(files, size, gray), "unlabelled images", str(p))
    if not p.is_file():
        raise EdgekitError(f"{p} does not exist", "pass a folder of images or an .npy file")
    try:
        loaded = np.load(p, allow_pickle=False)
        if hasattr(loaded, "files"):
            with loaded as npz:
                key = "x_unlabelled" if "x_unlabelled" in npz.files else (npz.files[0] if len(npz.files) == 1 else None)
                if key is None:
                    raise EdgekitError(f"{p} has no x_unlabelled array (has: {', '.join(npz.files)})", "save it as x_unlabelled")
                arr = npz[key]
        else:
            arr = loaded
    except EdgekitError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgekitError(f"cannot read {p}: {exc}", "save a numeric array with np.save (no pickled objects)") from None
    x = _images(arr, "unlabelled images", str(p))
    want_hw = None if image_size is None else _size(image_size, set(), str(p))
    if want_hw is not None and tuple(x.shape[1:3]) != want_hw:
        raise EdgekitError(f"{p}: unlabelled images are {_hwc(x.shape[1:3])} but the data's images are {_hwc(want_hw)}",
                           "save them at the same size")
    if channels is not None and x.shape[3] != channels:
        raise EdgekitError(f"{p}: unlabelled images have {x.shape[3]} channels but the data's images have {channels}",
                           "save them with the same channels")
    return x


def _match_unlabelled(x: np.ndarray, ds: Dataset, source: str) -> np.ndarray:
    if x.shape[1:] != ds.x_train.shape[1:]:
        raise EdgekitError(f"{source}: unlabelled images are {_hwc(x.shape[1:])} but the data's images are {_hwc(ds.input_shape)}",
                           "use the same size and channels")
    return x


# ----------------------------------------------------------------------------------------------
# Dispatch


def _parse_size(image_size) -> tuple[int, int] | None:
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


def load_data(spec: str | os.PathLike | None = None, unlabelled: str | os.PathLike | None = None,
              image_size: tuple[int, int] | int | str | None = None) -> Dataset:
    """Load ``spec``: None or "fashion-mnist" (built-in), a ``.npz`` file or an image folder.

    ``unlabelled`` (folder or .npy) is loaded at the data's image size and channels into
    ``x_unlabelled``. ``image_size`` (H, W), int or "HxW" applies to image folders.
    """
    size = _parse_size(image_size)
    if spec is None or str(spec).lower() in ("fashion-mnist", "fashion_mnist", "fashionmnist"):
        ds = load_fashion_mnist()
    else:
        p = Path(spec)
        if p.is_dir():
            ds = load_image_folder(p, image_size=size)
        elif p.suffix.lower() == ".npz" or p.is_file():
            ds = load_npz(p)
        else:
            raise EdgekitError(f"data {str(spec)!r} not found",
                               "pass 'fashion-mnist', an .npz file (x_train, y_train, x_test, y_test) or an image folder")
    if unlabelled is not None:
        ds.x_unlabelled = load_unlabelled(unlabelled, image_size=ds.input_shape[:2], channels=ds.input_shape[2])
    return ds
