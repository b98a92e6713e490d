"""Packaging: the wheel, the core install (no TensorFlow) and the [bench] extra, in a fresh venv.

Builds the wheel (``pip wheel --no-deps``) from a copy of the sources, installs it into a fresh venv
from PyPI, core only, and checks there: no TensorFlow, under 150 MB, ``--help`` of every command,
``edgekit report OUT`` / ``edgekit gate OUT --json`` on a results directory written by this (full)
install give what they give here, the .tflite reader works, and each command whose extra is missing
says which one in one line. Then it installs ``[bench]`` and ``edgekit emulator status`` lists the
profiles shipped in the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from setuptools import find_packages

from edgekit.cli import COMMAND_MODULES, app
from edgekit.report.synthetic import measurement, write_variant
from edgekit.tflite.inspect import read_model_info, weight_stats

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAX_CORE_BYTES = 150 * 10**6  # decimal MB, the project's size unit
NOT_IN_CORE = {"tensorflow", "tensorflow-cpu", "tf-keras", "keras", "tensorflow-model-optimization",
               "tflite-runtime", "adbutils", "pillow"}
BUDGETS = """
[budgets]
size = "gzip"

[[budgets.rule]]
variants = "int8*"
max_size = "200 kB"
min_accuracy = "85%"
max_latency = "20 ms"

[[budgets.rule]]
variants = "float32"
max_size = "1 MiB"
"""


def _without_created(doc):
    """A JSON document without its "created" timestamps (two runs differ only there)."""
    if isinstance(doc, dict):
        return {k: _without_created(v) for k, v in doc.items() if k != "created"}
    if isinstance(doc, list):
        return [_without_created(v) for v in doc]
    return doc


def _commands() -> list[tuple[list[str], str | None]]:
    """Every command path of the CLI with the extra it needs (from edgekit.cli's registration)."""
    extra_of = {}
    for module, extra in COMMAND_MODULES.items():
        extra_of[module.rsplit(".", 1)[1]] = extra
    paths = [([c.name], extra_of[c.name]) for c in app.registered_commands]
    for g in app.registered_groups:
        paths += [([g.name, c.name], extra_of[g.name]) for c in g.typer_instance.registered_commands]
    return paths


# ---- the package list and package data (no build) ------------------------------------------------

def test_every_package_folder_is_listed_and_every_data_glob_matches():
    tool = PYPROJECT["tool"]["setuptools"]
    on_disk = set(find_packages(str(ROOT), include=["edgekit", "edgekit.*"])) | {"edgekit.devices"}
    assert set(tool["packages"]) == on_disk, (
        "pyproject.toml [tool.setuptools] packages must list every package folder under edgekit/ "
        f"(missing: {sorted(on_disk - set(tool['packages']))}, extra: {sorted(set(tool['packages']) - on_disk)})")
    assert tool["package-dir"]["edgekit.devices"] == "devices" and (ROOT / "devices/__init__.py").is_file()
    for package, globs in tool["package-data"].items():
        folder = ROOT / tool["package-dir"].get(package, package.replace(".", "/"))
        for pattern in globs:
            assert list(folder.glob(pattern)), f"package-data {package}: {pattern!r} matches no file in {folder}"


def test_extras_keep_the_pins_and_the_core_has_no_tensorflow():
    project = PYPROJECT["project"]
    core = {d.split("=")[0].split(">")[0].split("<")[0].strip().lower() for d in project["dependencies"]}
    assert core.isdisjoint(NOT_IN_CORE) and {"numpy", "rich", "typer", "tflite", "flatbuffers"} <= core
    extras = project["optional-dependencies"]
    assert {"tensorflow==2.21.0", "tf-keras==2.21.0", "tensorflow-model-optimization==0.8.0",
            "tflite-runtime==2.14.0"} <= set(extras["optimize"])
    assert {"adbutils==2.12.0", "tflite-runtime==2.14.0"} <= set(extras["bench"])
    assert extras["all"] == ["edgekit[optimize,bench,search]"] and "bench-tools" in extras and "test" in extras
    assert {"optuna==5.0.0"} <= set(extras["search"])
    assert "numpy==1.26.4" in project["dependencies"]
    assert set(COMMAND_MODULES.values()) - {None} <= set(extras)


# ---- the wheel and a fresh venv ------------------------------------------------------------------

def _run(cmd: list, *, env: dict | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{' '.join(proc.args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _pip_install(venv: Path, spec: str) -> None:
    _ok(_run([venv / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", spec], timeout=600))


def _dists(venv: Path) -> set[str]:
    out = _ok(_run([venv / "bin/python", "-m", "pip", "list", "--format=json", "--disable-pip-version-check"])).stdout
    return {d["name"].lower() for d in json.loads(out)}


def _du(path: Path) -> int:
    return int(_ok(_run(["du", "-s", "-B1", path])).stdout.split()[0])


@dataclass
class Venv:
    path: Path
    wheel: Path
    env: dict
    work: Path
    dists: set[str] = field(default_factory=set)
    size: int = 0

    def edgekit(self, *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return _run([self.path / "bin/edgekit", *args], env=self.env, cwd=cwd or self.work)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps`` of a copy of the sources (the build leaves nothing in the work tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("edgekit", "devices"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", dist, src],
             timeout=600))
    (whl,) = dist.glob("edgekit-*.whl")
    return whl


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """A results directory written by this (full) install: variants + device measurements in bench.sqlite."""
    from edgekit.bench.store import Store

    out = tmp_path_factory.mktemp("results") / "out"
    write_variant(out, "float32", 800_000, 0.910, gzip_size=700_000, chain=[])
    write_variant(out, "int8", 210_000, 0.902, gzip_size=150_000, baseline="float32")
    write_variant(out, "int8_pruned", 200_000, 0.880, gzip_size=90_000, baseline="float32")
    store = Store(out / "bench.sqlite")
    for name, ms in {"float32": 30.0, "int8": 9.0, "int8_pruned": 8.0}.items():
        store.add(measurement(name, ms, p90=ms * 1.2, memory=10 + ms))
    store.close()
    (out.parent / "edgekit.toml").write_text(BUDGETS)
    return out


@pytest.fixture(scope="module")
def core(request, tmp_path_factory) -> Venv:
    """A fresh venv with only ``pip install edgekit-*.whl`` (the wheel's dependencies from PyPI)."""
    base = tmp_path_factory.mktemp("venvs")
    venv = base / "core"
    making = subprocess.Popen([sys.executable, "-m", "venv", str(venv)])  # while the wheel builds
    wheel = request.getfixturevalue("wheel")
    assert making.wait(timeout=300) == 0, "python -m venv failed"
    _pip_install(venv, str(wheel))
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "EDGEKIT_DEVICES", "PYTHONHOME"}}
    env.update(PATH=f"{venv}/bin:/usr/bin:/bin", COLUMNS="200", EDGEKIT_CACHE=str(base / "cache"))
    work = base / "work"
    work.mkdir()
    v = Venv(venv, wheel, env, work, dists=_dists(venv), size=_du(venv))
    print(f"\ncore venv: {v.size / 1e6:.1f} MB ({v.size / 2**20:.1f} MiB), {len(v.dists)} distributions")
    return v


@pytest.fixture(scope="module")
def core_runs(core, results_dir, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every command run in the core venv before [bench] is installed there."""
    jobs: dict[str, tuple[list, Path | None]] = {}
    for path, _ in _commands():
        jobs["help " + " ".join(path)] = ([*path, "--help"], None)
    args = {"optimize": ["--out", str(tmp_path_factory.mktemp("opt"))], "bench": [str(results_dir)]}
    for path, extra in _commands():
        if extra is not None:
            jobs[" ".join(path)] = ([*path, *args.get(path[0], [])], None)
    jobs["report"] = (["report", results_dir], results_dir.parent)
    jobs["report json"] = (["report", results_dir, "--json"], results_dir.parent)
    jobs["gate json"] = (["gate", results_dir, "--json"], results_dir.parent)
    jobs["report missing"] = (["report", results_dir.parent / "nope"], None)
    with ThreadPoolExecutor(max_workers=3) as pool:  # independent runs: overlap their start-up
        futures = {key: pool.submit(core.edgekit, *a, cwd=cwd) for key, (a, cwd) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


def test_core_install_has_no_tensorflow_and_is_under_150_mb(core):
    assert core.dists.isdisjoint(NOT_IN_CORE), sorted(core.dists & NOT_IN_CORE)
    assert {"edgekit", "numpy", "rich", "typer", "tflite", "flatbuffers"} <= core.dists
    assert core.size < MAX_CORE_BYTES, f"core venv is {core.size / 1e6:.1f} MB"
    where = _ok(_run([core.path / "bin/python", "-c", "import edgekit.cli, sys; print(edgekit.cli.__file__)"],
                     env=core.env, cwd=core.work)).stdout
    assert where.startswith(str(core.path)), where  # the wheel's edgekit, not the work tree's


def test_help_of_every_command_works_in_the_core_install(core_runs):
    for path, _ in _commands():
        proc = core_runs["help " + " ".join(path)]
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert f"edgekit {' '.join(path)}" in proc.stdout


def test_report_and_gate_in_the_core_install_match_the_full_install(core_runs, results_dir):
    table = core_runs["report"]
    assert table.returncode == 0, table.stderr
    assert all(name in table.stdout for name in ("float32", "int8", "int8_pruned"))
    gate = core_runs["gate json"]
    assert gate.returncode == 0, gate.stdout + gate.stderr
    checks = json.loads(gate.stdout)
    assert checks["schema"] == "edgekit.gate/1"
    full_env = {**os.environ, "COLUMNS": "200"}
    for key, args in (("report json", ["report", results_dir, "--json"]), ("gate json", ["gate", results_dir, "--json"])):
        here = _run([sys.executable, "-m", "edgekit.cli", *args], env=full_env, cwd=results_dir.parent)
        assert core_runs[key].returncode == here.returncode
        assert _without_created(json.loads(core_runs[key].stdout)) == _without_created(json.loads(here.stdout)), key
    missing = core_runs["report missing"]
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr


def test_commands_without_their_extra_say_which_extra_in_one_line(core_runs):
    for path, extra in _commands():
        if extra is None:
            continue
        proc = core_runs[" ".join(path)]
        want = f"edgekit: error: edgekit {' '.join(path)} needs the {extra} extra: pip install 'edgekit[{extra}]' (not installed: "
        assert proc.returncode == 2 and proc.stderr.startswith(want), proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_the_tflite_reader_works_in_the_core_install(core):
    code = ("import json, sys; from edgekit.tflite.inspect import read_model_info, weight_stats; "
            "print(json.dumps([read_model_info(sys.argv[1]), weight_stats(sys.argv[1])]))")
    model = ROOT / "tests/data/emulator_int8.tflite"  # a real converted int8 model (no TF needed)
    proc = _ok(_run([core.path / "bin/python", "-c", code, model], env=core.env, cwd=core.work))
    here = [read_model_info(model), weight_stats(model)]
    assert here[0]["ops"] and here[1]["weight_count"] > 0
    assert json.loads(proc.stdout) == json.loads(json.dumps(here))
    bad = core.work / "bad.tflite"
    bad.write_bytes(b"PK\x03\x04 not a model")
    proc = _run([core.path / "bin/python", "-c", code, bad], env=core.env, cwd=core.work)
    assert proc.returncode == 1 and "EdgekitError" in proc.stderr and "no 'TFL3' identifier" in proc.stderr


def test_wheel_carries_profiles_recipes_plugin_sources_and_device_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    profiles = {p.name for p in (ROOT / "devices").glob("*.toml")}
    assert profiles and {f"edgekit/devices/{p}" for p in profiles} <= names
    assert "edgekit/devices/__init__.py" in names
    assert {f"edgekit/optimize/recipes/{p.name}" for p in (ROOT / "edgekit/optimize/recipes").glob("*.toml")} <= names
    assert {f"edgekit/emulator/plugin/{p.name}" for p in (ROOT / "edgekit/emulator/plugin").glob("*.[ch]")} <= names
    assert "edgekit/bench/device_script.py" in names
    assert not [n for n in names if not n.startswith(("edgekit/", "edgekit-"))]  # no tests, no top-level devices/


@pytest.fixture(scope="module")
def bench(core, core_runs) -> Venv:
    """The core venv after ``pip install 'edgekit-*.whl[bench]'`` (after every core-only run)."""
    _pip_install(core.path, f"{core.wheel}[bench]")
    v = Venv(core.path, core.wheel, core.env, core.work, dists=_dists(core.path), size=_du(core.path))
    print(f"\ncore + [bench] venv: {v.size / 1e6:.1f} MB")
    return v


def test_bench_extra_lists_the_profiles_shipped_in_the_wheel(bench):
    assert {"adbutils", "tflite-runtime"} <= bench.dists
    assert bench.dists.isdisjoint({"tensorflow", "tensorflow-cpu", "tf-keras", "keras"})
    proc = _ok(bench.edgekit("emulator", "status", "--json"))
    listed = json.dumps(json.loads(proc.stdout))
    for profile in (ROOT / "devices").glob("*.toml"):
        assert profile.stem in listed, proc.stdout
    text = _ok(bench.edgekit("emulator", "status")).stdout
    assert all(p.stem in text for p in (ROOT / "devices").glob("*.toml"))
    still = bench.edgekit("optimize", "--out", str(bench.work / "o"))
    assert still.returncode == 2 and "needs the optimize extra" in still.stderr
