"""edgekit.optimize.data: the built-in Fashion-MNIST, .npz files, image folders, unlabelled images, validation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.optimize.data import (
    FASHION_MNIST_CLASSES,
    Dataset,
    load_data,
    load_fashion_mnist,
    load_image_folder,
    load_npz,
    load_unlabelled,
)
from edgekit.errors import EdgekitError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _arrays(n_train=12, n_test=6, shape=(6, 5), k=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % k,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % k,
    }


def _npz(tmp_path, name="d.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


# ---- Fashion-MNIST ----------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_full():
    ds = load_fashion_mnist()
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    assert ds.num_classes == 10 and ds.class_names == list(FASHION_MNIST_CLASSES)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10 and np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.input_shape == (28, 28, 1) and ds.name == "fashion-mnist"
    assert ds.y_train[:3].tolist() == [9, 0, 0]  # the published first labels: ankle boot, T-shirt, T-shirt


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_limits_and_default_dispatch():
    ds = load_fashion_mnist(limit_train=100, limit_test=20)
    assert len(ds.x_train) == 100 and len(ds.y_test) == 20
    assert load_data(None).fingerprint() == load_data("fashion-mnist").fingerprint()


def test_fashion_mnist_missing_package(tmp_path):
    with pytest.raises(EdgekitError) as err:
        load_fashion_mnist(tmp_path / "nope")
    assert "install dataset-fashion-mnist (apt) or run make demo" in err.value.one_line()
    with pytest.raises(EdgekitError, match="no train-images-idx3-ubyte.gz"):
        load_fashion_mnist(tmp_path)


def _idx(path: Path, arr: np.ndarray, truncate: int = 0):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(raw[: len(raw) - truncate])


def test_idx_reader_on_small_files(tmp_path):
    a = _arrays(shape=(4, 4), k=10)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", a["x_train"])
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", a["y_train"])
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", a["x_test"])
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", a["y_test"], truncate=1)
    with pytest.raises(EdgekitError, match="truncated"):
        load_fashion_mnist(tmp_path)
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", a["y_test"])
    ds = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(ds.x_train[..., 0], a["x_train"] / np.float32(255))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(EdgekitError, match="cannot read"):
        load_fashion_mnist(tmp_path)


# ---- .npz -------------------------------------------------------------------------------------

def test_npz_uint8_hw_becomes_hw1_in_unit_range(tmp_path):
    a = _arrays()
    ds = load_npz(_npz(tmp_path, **a))
    assert ds.x_train.shape == (12, 6, 5, 1) and ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_test[..., 0], a["x_test"] / 255.0, rtol=1e-6)
    assert ds.y_train.dtype == np.int64 and ds.num_classes == 3 and ds.class_names == ["0", "1", "2"]
    assert ds.name == "d" and ds.input_shape == (6, 5, 1) and ds.x_unlabelled is None


def test_npz_float_inputs_labels_names_and_unlabelled(tmp_path):
    a = _arrays(shape=(4, 4, 3))
    unit = {**a, "x_train": a["x_train"] / 255.0, "x_test": a["x_test"] / 255.0}
    scaled = {**a, "x_train": a["x_train"].astype(np.float64), "x_test": a["x_test"].astype(np.float32)}
    d1, d2 = load_npz(_npz(tmp_path, "u.npz", **unit)), load_npz(_npz(tmp_path, "s.npz", **scaled))
    np.testing.assert_allclose(d1.x_train, d2.x_train, rtol=1e-6)
    extra = {**a, "y_train": a["y_train"].astype(np.float32).reshape(-1, 1), "class_names": np.array(["a", "b", "c", "d"]),
             "x_unlabelled": np.zeros((7, 4, 4, 3), np.uint8)}
    ds = load_npz(_npz(tmp_path, "e.npz", **extra))
    assert ds.num_classes == 4 and ds.class_names == ["a", "b", "c", "d"]
    assert ds.y_train.tolist() == a["y_train"].tolist() and ds.x_unlabelled.shape == (7, 4, 4, 3)


BAD_NPZ = [
    ("missing keys", lambda a: {k: v for k, v in a.items() if k != "y_test"}, r"missing y_test \(has: x_train, y_train, x_test\)"),
    ("flat vectors", lambda a: {**a, "x_train": a["x_train"].reshape(12, -1)}, r"x_train has shape \(12, 30\); expected images"),
    ("rank 5", lambda a: {**a, "x_test": a["x_test"].reshape(6, 6, 5, 1, 1)}, "x_test has shape"),
    ("channels first", lambda a: {**a, "x_train": np.zeros((12, 3, 32, 32), np.uint8)}, "channels-first"),
    ("lengths", lambda a: {**a, "y_train": a["y_train"][:-1]}, "x_train has 12 images but y_train has 11 labels"),
    ("string images", lambda a: {**a, "x_train": np.array(["a"] * 12)}, "x_train has dtype <U1, not numbers"),
    ("bool labels", lambda a: {**a, "y_test": np.ones(6, bool)}, "y_test has dtype bool"),
    ("negative label", lambda a: {**a, "y_train": a["y_train"] - 1}, "negative label -1"),
    ("fractional label", lambda a: {**a, "y_test": a["y_test"] + 0.5}, "non-integer label 0.5"),
    ("one-hot", lambda a: {**a, "y_train": np.eye(3)[a["y_train"]]}, "one-hot"),
    ("unseen test label", lambda a: {**a, "y_test": a["y_test"] + 1}, "y_test has label 3, which never occurs in y_train"),
    ("beyond class names", lambda a: {**a, "class_names": np.array(["a", "b"])}, "label 2 but there are only 2 class names"),
    ("empty train", lambda a: {**a, "x_train": a["x_train"][:0], "y_train": a["y_train"][:0]}, "x_train is empty"),
    ("empty test labels", lambda a: {**a, "y_test": a["y_test"][:0]}, "y_test is empty"),
    ("train/test shapes", lambda a: {**a, "x_test": np.zeros((6, 5, 6), np.uint8)}, "train images are 6x5x1 but test images are 5x6x1"),
    ("pixel range", lambda a: {**a, "x_train": a["x_train"].astype(np.int32) * 2}, "integer pixel values 0..510"),
    ("normalised floats", lambda a: {**a, "x_test": a["x_test"] / 255.0 - 0.5}, "expected pixels in 0..1 or 0..255"),
    ("nan", lambda a: {**a, "x_test": np.full((6, 6, 5), np.nan)}, "NaN or infinite"),
    ("one class", lambda a: {**a, "y_train": np.zeros(12, int), "y_test": np.zeros(6, int)}, "only 1 class"),
]


@pytest.mark.parametrize("case,mutate,match", BAD_NPZ, ids=[c[0] for c in BAD_NPZ])
def test_npz_validation_errors(tmp_path, case, mutate, match):
    p = _npz(tmp_path, **mutate(_arrays()))
    with pytest.raises(EdgekitError, match=match) as err:
        load_npz(p)
    line = err.value.one_line()
    assert "\n" not in line and str(p) in line


def test_npz_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not numpy")
    with pytest.raises(EdgekitError, match="cannot read"):
        load_npz(garbage)
    pickled = tmp_path / "objects.npz"
    a = _arrays()
    np.savez(pickled, **{**a, "x_train": np.array([object()] * 12, dtype=object)})
    with pytest.raises(EdgekitError, match="Object arrays cannot be loaded") as err:
        load_npz(pickled)
    assert "no pickled objects" in err.value.one_line()
    single = tmp_path / "single.npy"
    np.save(single, a["x_train"])
    with pytest.raises(EdgekitError, match="single array, not an .npz"):
        load_npz(single)
    with pytest.raises(EdgekitError, match="does not exist"):
        load_npz(tmp_path / "missing.npz")
    with pytest.raises(EdgekitError, match="missing.npz does not exist"):
        load_data(str(tmp_path / "missing.npz"))
    with pytest.raises(EdgekitError, match="data 'mnist' not found") as err:
        load_data("mnist")
    assert "'fashion-mnist', an .npz file" in err.value.one_line()


# ---- fingerprint and model-input check -------------------------------------------------------

def test_fingerprint_is_stable_and_sensitive(tmp_path):
    p = _npz(tmp_path, **_arrays())
    a, b = load_npz(p), load_npz(p)
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 64
    b.y_test[0] = 2
    assert a.fingerprint() != b.fingerprint()
    c = load_npz(p)
    c.class_names = ["x", "y", "z"]
    assert a.fingerprint() != c.fingerprint()
    d = load_npz(p)
    d.x_unlabelled = d.x_train[:2]
    assert a.fingerprint() != d.fingerprint()


def test_check_model_input(tmp_path):
    ds = load_npz(_npz(tmp_path, **_arrays()))
    ds.check_model_input((None, 6, 5, 1))
    ds.check_model_input([1, 6, 5, 1])
    ds.check_model_input([-1, 6, -1, 1])
    with pytest.raises(EdgekitError, match="images of shape 6x5x1 but the model expects 28x28x1"):
        ds.check_model_input((None, 28, 28, 1))
    with pytest.raises(EdgekitError, match="expects 6x5x3"):
        ds.check_model_input((None, 6, 5, 3))
    with pytest.raises(EdgekitError, match="expects 30"):
        ds.check_model_input((None, 30))


# ---- image folders ----------------------------------------------------------------------------

def _folder(root: Path, classes=("daisy", "roses", "tulips"), per_class=5, size=(10, 12), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            h, w = size
            arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"img{i}.{'png' if i % 2 else 'jpg'}")
    (root / "LICENSE.txt").write_text("flowers license")
    return root


def test_image_folder_like_flowers(tmp_path):
    root = _folder(tmp_path / "flower_photos")
    ds = load_image_folder(root)
    assert ds.class_names == ["daisy", "roses", "tulips"] and ds.num_classes == 3
    assert ds.input_shape == (10, 12, 3) and ds.name == "flower_photos"
    assert len(ds.x_train) == 12 and len(ds.x_test) == 3  # 1 of 5 per class
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() <= ds.x_train.max() <= 1.0
    again = load_image_folder(root)
    assert again.fingerprint() == ds.fingerprint()
    other = load_image_folder(root, seed=1)
    assert other.fingerprint() != ds.fingerprint()
    assert load_data(str(root)).fingerprint() == ds.fingerprint()


def test_image_folder_resize_and_grayscale(tmp_path):
    root = _folder(tmp_path / "gray", classes=("a", "b"), per_class=4, size=(9, 9), mode="L")
    Image.fromarray(np.zeros((20, 16), np.uint8), "L").save(root / "a" / "big.png")
    assert load_image_folder(root).input_shape == (96, 96, 1)  # mixed sizes, no size given: the default
    ds = load_image_folder(root, image_size=(8, 7), test_fraction=0.5)
    assert ds.input_shape == (8, 7, 1)
    assert len(ds.x_test) == 2 + 2 and len(ds.x_train) == 3 + 2
    assert load_data(str(root), image_size="8x7").input_shape == (8, 7, 1)


def test_image_folder_errors(tmp_path):
    with pytest.raises(EdgekitError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(EdgekitError, match="no class sub-folders"):
        load_image_folder(tmp_path / "flat")
    root = _folder(tmp_path / "r", classes=("a", "b"), per_class=3)
    (root / "empty").mkdir()
    with pytest.raises(EdgekitError, match="class folder 'empty' has no images"):
        load_image_folder(root)
    (root / "empty").rmdir()
    (root / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(EdgekitError, match="cannot read image .*broken.png"):
        load_image_folder(root)
    (root / "b" / "broken.png").unlink()
    with pytest.raises(EdgekitError, match="test_fraction"):
        load_image_folder(root, test_fraction=1.5)
    one = _folder(tmp_path / "one", classes=("only",), per_class=3)
    with pytest.raises(EdgekitError, match="only one class folder"):
        load_image_folder(one)
    single = _folder(tmp_path / "single", classes=("a", "b"), per_class=1)
    with pytest.raises(EdgekitError, match="test split is empty"):
        load_image_folder(single)


# ---- unlabelled ----------------------------------------------------------------------------------

def test_unlabelled_folder_and_npy(tmp_path):
    root = _folder(tmp_path / "u", classes=("x", "y"), per_class=3, size=(12, 12))
    x = load_unlabelled(root, image_size=(6, 6), channels=1)
    assert x.shape == (6, 6, 6, 1) and x.dtype == np.float32
    assert load_unlabelled(root).shape == (6, 12, 12, 3)
    npy = tmp_path / "u.npy"
    np.save(npy, np.full((5, 6, 5), 255, np.uint8))
    x = load_unlabelled(npy, image_size=(6, 5), channels=1)
    assert x.shape == (5, 6, 5, 1) and x.max() == 1.0
    with pytest.raises(EdgekitError, match="unlabelled images are 6x5 but the data's images are 28x28"):
        load_unlabelled(npy, image_size=(28, 28))
    with pytest.raises(EdgekitError, match="1 channels but the data's images have 3"):
        load_unlabelled(npy, channels=3)
    with pytest.raises(EdgekitError, match="does not exist"):
        load_unlabelled(tmp_path / "none.npy")
    (tmp_path / "noimg").mkdir()
    with pytest.raises(EdgekitError, match="has no images"):
        load_unlabelled(tmp_path / "noimg")


def test_load_data_attaches_unlabelled(tmp_path):
    p = _npz(tmp_path, **_arrays())
    npy = tmp_path / "u.npy"
    np.save(npy, np.zeros((4, 6, 5, 1), np.float32))
    ds = load_data(str(p), unlabelled=npy)
    assert isinstance(ds, Dataset) and ds.x_unlabelled.shape == (4, 6, 5, 1)
    assert "unlabelled=4" in repr(ds)
