"""Shared fixtures: small data and tiny models that the project makes itself (no downloads)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


def run_edgekit(*args, check: bool = False, timeout: float = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `edgekit` CLI in a child process (its own TensorFlow, its own exit code)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run([*EDGEKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgekit {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def run_python(code: str, *args, env: dict | None = None, timeout: float = 600) -> str:
    """Run Python code in a fresh interpreter (e.g. to use TensorFlow without importing it here)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"python child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory) -> Path:
    """800 train / 200 test Fashion-MNIST images (from Debian's dataset-fashion-mnist) as .npz."""
    from edgekit.optimize.data import load_fashion_mnist

    ds = load_fashion_mnist(limit_train=800, limit_test=200)
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_train=(ds.x_train[..., 0] * 255).round().astype(np.uint8), y_train=ds.y_train,
             x_test=(ds.x_test[..., 0] * 255).round().astype(np.uint8), y_test=ds.y_test)
    return path


TINY_MODEL = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tf_keras as keras
keras.utils.set_random_seed(0)
d = np.load(sys.argv[1])
x = d["x_train"][..., None].astype("float32") / 255.0
L = keras.layers
kind = sys.argv[3]
i = L.Input((28, 28, 1))
if kind == "cnn":
    h = L.Conv2D(8, 3, activation="relu")(i)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(16, 3, activation="relu")(h)
    h = L.MaxPooling2D()(h)
    h = L.Flatten()(h)
    h = L.Dense(32, activation="relu")(h)
else:  # a layer tfmot's QAT cannot quantise
    h = L.Reshape((28, 28))(i)
    h = L.LSTM(8)(h)
o = L.Softmax()(L.Dense(10)(h))
m = keras.Model(i, o)
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(x, d["y_train"], epochs=1, batch_size=64, verbose=0)
m.save(sys.argv[2])
"""


@pytest.fixture(scope="session")
def tiny_model(small_npz, tmp_path_factory) -> Path:
    """A tiny tf-keras CNN (~13k parameters) trained for one epoch, saved as .h5."""
    path = tmp_path_factory.mktemp("models") / "tiny.h5"
    run_python(TINY_MODEL, small_npz, path, "cnn")
    return path


@pytest.fixture(scope="session")
def lstm_model(small_npz, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "lstm.h5"
    run_python(TINY_MODEL, small_npz, path, "lstm")
    return path


KERAS3_MODEL = r"""
import os, sys
os.environ.pop("TF_USE_LEGACY_KERAS", None)
import numpy as np, keras
assert keras.__version__.startswith("3"), keras.__version__
keras.utils.set_random_seed(0)
d = np.load(sys.argv[2])
m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                      keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
# trained for three epochs: an untrained model's near-uniform outputs flip top-1 under int8 and are
# (rightly) flagged suspect by the checks
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(d["x_train"][..., None].astype("float32") / 255.0, d["y_train"], epochs=3, batch_size=64, verbose=0)
m.save(sys.argv[1])
"""


@pytest.fixture(scope="session")
def keras3_model(small_npz, tmp_path_factory) -> Path:
    """A tiny Keras 3 CNN trained for three epochs on the small data, saved as .keras."""
    path = tmp_path_factory.mktemp("models") / "k3.keras"
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", KERAS3_MODEL, str(path), str(small_npz)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@contextlib.contextmanager
def private_adb_server():
    """A private adb server on its own port for one test module, so adb restarts elsewhere cannot
    interfere; every adb / adbutils / edgekit call inherits ANDROID_ADB_SERVER_PORT."""
    from edgekit.emulator.control import free_port

    old = os.environ.get("ANDROID_ADB_SERVER_PORT")
    port = str(free_port())
    os.environ["ANDROID_ADB_SERVER_PORT"] = port
    subprocess.run(["adb", "start-server"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    try:
        yield port
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        if old is None:
            os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
        else:
            os.environ["ANDROID_ADB_SERVER_PORT"] = old


# `make test` hands whole modules to its xdist workers (--dist loadfile) in collection order. The
# longest modules go first (longest-first scheduling): one started last would run alone at the end
# while the other core idles (21:37 for 697 tests with collection order, ~30% of the CPU idle).
LONG_FIRST = [
    "tests/bench/test_bench_emulator.py",
    "tests/optimize/test_keras3_bridge_optimize.py",
    "tests/optimize/test_distill_teachers.py",
    "tests/optimize/test_optimize.py",
    "tests/optimize/test_student_family.py",
    "tests/search/test_search_resume.py",
    "tests/search/test_search_postgres.py",
    "tests/bench/test_bench_instructions.py",
    "tests/faults/test_interrupted_optimize.py",
    "tests/bench/test_bench_runtime.py",
    "tests/faults/test_device_gone.py",
]


def pytest_collection_modifyitems(items):
    rank = {m: i for i, m in enumerate(LONG_FIRST)}
    items.sort(key=lambda it: rank.get(it.nodeid.split("::")[0], len(rank)))   # stable: modules stay whole
