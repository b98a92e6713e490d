"""Images from folders: a labelled folder (one sub-folder per class, the flowers layout) and unlabelled
images (a folder, or an ``.npy`` / ``.npz`` array) for distillation where the teacher provides the labels.
Pillow reads the files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.optimize.data.dataset import Dataset, build, hwc, to_images

DEFAULT_IMAGE_SIZE = (96, 96)  # for folders of mixed-size images when no image_size is given
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


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
    return build(root.name, str(root), x_train, np.array(train_y), x_test, np.array(test_y),
                  class_names=[d.name for d in class_dirs])


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
        return to_images(_read_images(files, size, gray), "unlabelled images", str(p))
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
    x = to_images(arr, "unlabelled images", str(p))
    want_hw = None if image_size is None else _size(image_size, set(), str(p))
    if want_hw is not None and tuple(x.shape[1:3]) != want_hw:
        raise EdgekitError(f"{p}: unlabelled images are {hwc(x.shape[1:3])} but the data's images are {hwc(want_hw)}",
                           "save them at the same size")
    if channels is not None and x.shape[3] != channels:
        raise EdgekitError(f"{p}: unlabelled images have {x.shape[3]} channels but the data's images have {channels}",
                           "save them with the same channels")
    return x
